/**
 * Stub nodes for client tests: an http or https server that records each request and answers
 * it as the test says. `stubServers()` gives a test file its own set; `closeAll` after each test.
 */
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo, Server } from "node:net";
import type { TlsCredentials } from "../../node/tls/certificates.js";

/** A request as the stub got it. */
export interface Seen {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage["headers"];
  readonly body: Uint8Array;
}

export interface StubServers {
  /** A server answering with `answer` (https with `tls`, plain http without); `seen`: its requests. */
  serve(
    answer: (req: Seen, res: ServerResponse) => void,
    tls?: TlsCredentials,
  ): Promise<{ url: string; seen: Seen[] }>;
  /** A URL nothing listens on (a server opened and closed). */
  closedUrl(tls?: TlsCredentials): Promise<string>;
  /** Closes every server served so far, cutting open connections. */
  closeAll(): Promise<void>;
}

export function stubServers(): StubServers {
  const servers: Server[] = [];
  const stubs: StubServers = {
    async serve(answer, tls) {
      const seen: Seen[] = [];
      const handler = (req: IncomingMessage, res: ServerResponse) => {
        const chunks: Buffer[] = [];
        req.on("data", (chunk: Buffer) => chunks.push(chunk));
        req.on("end", () => {
          const request = {
            method: req.method ?? "",
            url: req.url ?? "",
            headers: req.headers,
            body: new Uint8Array(Buffer.concat(chunks)),
          };
          seen.push(request);
          answer(request, res);
        });
      };
      const server =
        tls === undefined
          ? createHttpServer({ keepAlive: true }, handler)
          : createHttpsServer({ ...tls, keepAlive: true }, handler);
      servers.push(server);
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      const scheme = tls === undefined ? "http" : "https";
      return { url: `${scheme}://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
    },
    async closedUrl(tls) {
      const { url } = await stubs.serve(() => undefined, tls);
      const server = servers.pop()!;
      await new Promise((resolve) => server.close(resolve));
      return url;
    },
    async closeAll() {
      for (const server of servers.splice(0)) {
        (server as Server & { closeAllConnections(): void }).closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      }
    },
  };
  return stubs;
}
