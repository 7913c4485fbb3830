/**
 * The admin page: three static files (gateway/web/: index.html, app.js, style.css) that the
 * admin listener serves at `/`, `/app.js` and `/style.css`. They hold no data (the page
 * reads the API with the token the user types), so the TCP listener serves them without
 * the token; every API path still needs it. The IGD's presentation page on the LAN is
 * another, read-only page (igd-runtime.ts).
 */
import type { Express } from 'express';
import { fileURLToPath } from 'node:url';

/** Where the files are: beside dist/, in the package and in the Docker image alike. */
export const PAGE_DIR = fileURLToPath(new URL('../../web/', import.meta.url));

const PAGE_FILES: ReadonlyMap<string, string> = new Map([['/', 'index.html'], ['/index.html', 'index.html'], ['/app.js', 'app.js'], ['/style.css', 'style.css']]);

/** True for a GET (or HEAD) of one of the page's files: served without the token. */
export function isPageRequest(method: string | undefined, url: string | undefined): boolean {
  return (method === 'GET' || method === 'HEAD') && PAGE_FILES.has((url ?? '').split('?')[0]!);
}

/** Serves the page's files; the page may load only from the listener itself. */
export function mountPage(app: Express): void {
  for (const [path, file] of PAGE_FILES) {
    app.get(path, (_req, res) => {
      res.set({
        'content-security-policy': "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
        'x-content-type-options': 'nosniff',
        'cache-control': 'no-cache',
      });
      res.sendFile(file, { root: PAGE_DIR });
    });
  }
}
