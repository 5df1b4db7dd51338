// Node's ESM resolver rejects tfjs-core's extensionless ESM imports, so the gradients come
// from the umbrella package's CommonJS bundle, which registers them in the same global
// registry tfjs-core uses.
import '@tensorflow/tfjs';
