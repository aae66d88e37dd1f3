// A static server for the example browser app, so it runs from its own
// origin and reaches shelf through CORS, as a real deployment of a separate
// front end would. Serves only the app's own files; /config.js names the API.
//
//   node examples/spa/serve.mjs --api http://localhost:8080 [--port 5173] [--host localhost]
//
// Add the origin it prints to shelf's SHELF_CORS_ORIGINS.
import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const here = fileURLToPath(new URL(".", import.meta.url));

const FILES = {
  "/": ["index.html", "text/html; charset=utf-8"],
  "/index.html": ["index.html", "text/html; charset=utf-8"],
  "/app.js": ["app.js", "text/javascript; charset=utf-8"],
  "/style.css": ["style.css", "text/css; charset=utf-8"],
};

/**
 * Serves the app on host:port (0 picks a free port) with `api` as the API's
 * base URL; resolves to the running server and the origin it serves.
 */
export async function serveApp({ api, host = "localhost", port = 0 }) {
  const apiOrigin = new URL(api).origin;
  const config = `export const API_BASE = ${JSON.stringify(api.replace(/\/$/, ""))};\n`;
  const server = createServer(async (request, response) => {
    const path = new URL(request.url ?? "/", "http://x").pathname;
    const headers = {
      // Scripts, styles and connections only to this origin and the API.
      "Content-Security-Policy": `default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self' ${apiOrigin}; form-action 'none'; base-uri 'none'; frame-ancestors 'none'`,
      "X-Content-Type-Options": "nosniff",
      "Referrer-Policy": "no-referrer",
      "Cache-Control": "no-cache",
    };
    if (request.method !== "GET" && request.method !== "HEAD") {
      response.writeHead(405, { ...headers, Allow: "GET, HEAD" }).end();
    } else if (path === "/config.js") {
      response.writeHead(200, { ...headers, "Content-Type": "text/javascript; charset=utf-8" }).end(config);
    } else if (Object.hasOwn(FILES, path)) {
      const [file, type] = FILES[path];
      response.writeHead(200, { ...headers, "Content-Type": type }).end(await readFile(here + file));
    } else {
      response.writeHead(404, { ...headers, "Content-Type": "text/plain" }).end("not found\n");
    }
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, resolve);
  });
  return { server, origin: `http://${host}:${server.address().port}` };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      api: { type: "string", default: "http://localhost:8080" },
      host: { type: "string", default: "localhost" },
      port: { type: "string", default: "5173" },
    },
  });
  const { origin } = await serveApp({ api: values.api, host: values.host, port: Number(values.port) });
  console.log(`the app: ${origin}/ (API ${values.api}; set SHELF_CORS_ORIGINS=${origin})`);
}
