#!/usr/bin/env node
// A dependency-free static server for the built site: `node scripts/serve.mjs dist [--port 4321] [--base /sub/] [--no-isolation]`.
// It sends COOP/COEP (cross-origin isolation: wasm threads) unless --no-isolation, maps the
// site's base path onto the folder, and answers 404 with the site's 404 page.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const root = path.resolve(args.find((a, i) => !a.startsWith('--') && !['--port', '--base'].includes(args[i - 1])) ?? 'dist');
const port = Number(opt('--port', process.env.PORT ?? '4321'));
let base = opt('--base', process.env.SITE_BASE ?? '/');
if (!base.endsWith('/')) base += '/';
const isolation = !args.includes('--no-isolation');

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css',
  '.json': 'application/json', '.wasm': 'application/wasm', '.bin': 'application/octet-stream', '.png': 'image/png',
  '.svg': 'image/svg+xml', '.woff2': 'font/woff2', '.woff': 'font/woff', '.ttf': 'font/ttf', '.ico': 'image/x-icon', '.txt': 'text/plain',
  '.csv': 'text/csv', '.xml': 'application/xml',
};

if (!fs.existsSync(path.join(root, 'index.html'))) {
  console.error(`serve: ${root} has no index.html; build the site first (npm run build)`);
  process.exit(1);
}

const server = http.createServer((req, res) => {
  const headers = isolation ? { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' } : {};
  const url = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
  if (url === '/' && base !== '/') {
    res.writeHead(302, { Location: base, ...headers });
    return res.end();
  }
  if (!url.startsWith(base)) {
    res.writeHead(404, { 'Content-Type': 'text/plain', ...headers });
    return res.end(`Not found: the site lives under ${base}`);
  }
  let file = path.join(root, url.slice(base.length));
  if (!file.startsWith(root)) {
    res.writeHead(403, headers);
    return res.end();
  }
  if (fs.existsSync(file) && fs.statSync(file).isDirectory()) file = path.join(file, 'index.html');
  if (!fs.existsSync(file) && fs.existsSync(`${file}.html`)) file = `${file}.html`;
  if (!fs.existsSync(file)) {
    const notFound = path.join(root, '404.html');
    res.writeHead(404, { 'Content-Type': TYPES['.html'], ...headers });
    return res.end(fs.existsSync(notFound) ? fs.readFileSync(notFound) : 'Not found');
  }
  res.writeHead(200, {
    'Content-Type': TYPES[path.extname(file)] ?? 'application/octet-stream',
    'Content-Length': fs.statSync(file).size,
    'Cache-Control': 'no-cache',
    ...headers,
  });
  fs.createReadStream(file).pipe(res);
});
server.listen(port, '127.0.0.1', () => {
  console.log(`Serving ${root} at http://localhost:${port}${base}${isolation ? ' (cross-origin isolated)' : ''}`);
});
