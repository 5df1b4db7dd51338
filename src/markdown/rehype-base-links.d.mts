/** Types for rehype-base-links.mjs (a rehype plugin over a hast tree). */
interface HastNode {
  type: string;
  tagName?: string;
  properties?: Record<string, unknown>;
  children?: HastNode[];
}
export default function rehypeBaseLinks(options?: { base?: string }): (tree: HastNode) => void;
