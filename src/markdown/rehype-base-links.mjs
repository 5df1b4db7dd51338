/**
 * Rehype plugin: prefixes root-relative links in Markdown/MDX (`[docs](/docs/cli/)`) with the
 * site's base path, so content written as if the site lived at `/` also works under a sub-path
 * (SITE_BASE=/sub/). Leaves absolute URLs, `//host` links, anchors and relative links alone.
 *
 *   rehypePlugins: [[rehypeBaseLinks, { base: '/sub/' }]]
 */
export default function rehypeBaseLinks({ base = '/' } = {}) {
  const prefix = base.endsWith('/') ? base.slice(0, -1) : base;
  const fix = (href) => {
    if (typeof href !== 'string' || !href.startsWith('/') || href.startsWith('//') || prefix === '') return href;
    if (href === prefix || href.startsWith(`${prefix}/`)) return href;
    return `${prefix}${href}`;
  };
  const walk = (node) => {
    if (node.type === 'element') {
      if (node.tagName === 'a' && node.properties) node.properties.href = fix(node.properties.href);
      if (node.tagName === 'img' && node.properties) node.properties.src = fix(node.properties.src);
    }
    if (Array.isArray(node.children)) node.children.forEach(walk);
  };
  return (tree) => walk(tree);
}
