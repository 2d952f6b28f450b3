// A local HTTP server for feed tests: routes are set per test (body, type, status, ETag
// support) and every request is recorded, so a test can see conditional headers arrive.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Route {
  status?: number;
  type?: string;
  body: string;
  /** Answer 304 when If-None-Match carries this route's ETag (derived from the body). */
  etag?: boolean;
  /** Never answer (for timeout tests). */
  hang?: boolean;
}

export interface FeedServer {
  base: string;
  routes: Map<string, Route>;
  requests: Array<{ path: string; headers: IncomingMessage['headers'] }>;
  close(): Promise<void>;
}

export async function startFeedServer(): Promise<FeedServer> {
  const routes = new Map<string, Route>();
  const requests: FeedServer['requests'] = [];
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0]!;
    requests.push({ path, headers: request.headers });
    const route = routes.get(path);
    if (!route) {
      response.writeHead(404).end('not found');
      return;
    }
    if (route.hang) return;
    const etag = `"${Buffer.from(route.body).length}-${hash(route.body)}"`;
    if (route.etag && request.headers['if-none-match'] === etag) {
      response.writeHead(304, { etag }).end();
      return;
    }
    response.writeHead(route.status ?? 200, {
      'content-type': route.type ?? 'application/rss+xml; charset=utf-8',
      ...(route.etag ? { etag } : {}),
    });
    response.end(route.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    routes,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function hash(text: string): string {
  let h = 0;
  for (let i = 0; i < text.length; i += 1) h = (h * 31 + text.charCodeAt(i)) | 0;
  return (h >>> 0).toString(36);
}
