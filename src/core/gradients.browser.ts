// Registers tfjs-core's gradient functions (bundlers resolve this ESM entry fine).
import '@tensorflow/tfjs-core/dist/register_all_gradients';
