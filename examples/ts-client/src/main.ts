// A typed shelf client: every path, body and answer below is checked by
// `tsc --strict` against types generated from api/openapi-v1.json
// (openapi-typescript), and sent with openapi-fetch. A document that drifts
// from what this program uses stops it compiling.
//
//   SHELF_API=http://127.0.0.1:8080 SHELF_USER=reader SHELF_PASSWORD=… node dist/src/main.js
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "../generated/v1.js";

type Schemas = components["schemas"];
type ErrorCode = Schemas["ErrorCode"];
type ErrorEnvelope = Schemas["ErrorEnvelope"];
type ReadingStatus = Schemas["ReadingStatus"];

function setting(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === "") throw new Error(`${name} is not set`);
  return value;
}

const baseUrl = process.env["SHELF_API"] ?? "http://127.0.0.1:8080";
const username = setting("SHELF_USER");
const password = setting("SHELF_PASSWORD");

/** What a client does about each error code it knows; the rest are bugs. */
function advice(code: ErrorCode): string {
  switch (code) {
    case "invalid_token":
    case "authentication_required":
      return "refresh the access token, or sign in again";
    case "invalid_refresh_token":
      return "the session is over: sign in again";
    case "too_many_requests":
    case "sign_in_busy":
    case "server_busy":
      return "wait for Retry-After, then retry";
    case "not_found":
      return "the book is gone: refresh the list";
    case "invalid_sort_column":
    case "invalid_sort_order":
    case "validation_failed":
      return "fix the request";
    default:
      return "report it with the request id";
  }
}

/** Stops the program with the envelope's code, message and request id. */
function fail(what: string, error: ErrorEnvelope | undefined, response: Response): never {
  const detail = error
    ? `${error.error.code}: ${error.error.message} (request ${error.error.request_id}; ${advice(error.error.code)})`
    : `HTTP ${response.status} without a body`;
  throw new Error(`${what} failed: ${detail}`);
}

function expectCode(what: string, error: ErrorEnvelope | undefined, response: Response, code: ErrorCode): void {
  if (error?.error.code !== code) {
    throw new Error(`${what}: expected ${code}, got HTTP ${response.status} ${error?.error.code ?? "(no error)"}`);
  }
  console.log(`${what}: ${response.status} ${code} → ${advice(code)}`);
}

const client = createClient<paths>({ baseUrl });

// 1. A token pair.
const signIn = await client.POST("/api/token", { body: { username, password } });
if (!signIn.data) fail("sign-in", signIn.error, signIn.response);
console.log(`signed in: ${signIn.data.token_type} token for ${signIn.data.expires_in} s`);

// 2. Refresh: the presented refresh token is spent, a new pair comes back.
const spent = signIn.data.refresh_token;
const refreshed = await client.POST("/api/token/refresh", { body: { refresh_token: spent } });
if (!refreshed.data) fail("refresh", refreshed.error, refreshed.response);
const session = refreshed.data;
console.log("refreshed: a new pair, the old refresh token is spent");

// Every later request carries the current access token.
const bearer: Middleware = {
  onRequest({ request }) {
    request.headers.set("Authorization", `Bearer ${session.access_token}`);
    return request;
  },
};
client.use(bearer);

// 3. Search.
const search = await client.GET("/api/v1/search", { params: { query: { q: "tolstoy", sortColumn: "title" } } });
if (!search.data) fail("search", search.error, search.response);
const book = search.data.books[0];
if (book === undefined) throw new Error("search: the sample catalog has no book by Tolstoy");
// `rating` is sent on every book (null when unrated), but the document
// does not list it as required, so it is typed `number | null | undefined`.
console.log(`search: ${search.data.total} match(es); first "${book.title}", rating ${book.rating ?? "none"}`);

// 4. Tag it.
const tagged = await client.POST("/api/v1/add_tag", { body: { tag: "typed-client", book_id: book.id } });
if (!tagged.data) fail("add_tag", tagged.error, tagged.response);
console.log(`tagged: ${tagged.data.tags.join(", ")}`);

// 5. Set its status; the status is a union of the four values, so a typo
// does not compile.
const status: ReadingStatus = "read";
const changed = await client.POST("/api/v1/change_status", { body: { book_id: book.id, status } });
if (!changed.data) fail("change_status", changed.error, changed.response);
console.log(`status: book ${changed.data.book_id} is ${changed.data.status}`);

// 6. The library shows both.
const library = await client.GET("/api/v1/library", { params: { query: { per_page: 100 } } });
if (!library.data) fail("library", library.error, library.response);
const entry = library.data.books.find((candidate) => candidate.id === book.id);
if (entry?.status !== status || !entry.tags.includes("typed-client")) {
  throw new Error(`library: expected book ${book.id} with status ${status} and its tag, got ${JSON.stringify(entry)}`);
}
console.log(`library: ${library.data.total} book(s), "${entry.title}" is ${entry.status} [${entry.tags.join(", ")}]`);

// 7. Errors: branch on the envelope's `code`, never on the message.
const badSort = await client.GET("/api/v1/search", { params: { query: { sortColumn: "price" } } });
expectCode("search by an unknown column", badSort.error, badSort.response, "invalid_sort_column");

const missing = await client.POST("/api/v1/add_tag", { body: { tag: "nowhere", book_id: 2_000_000_000 } });
expectCode("tagging a book that does not exist", missing.error, missing.response, "not_found");

// Presenting a spent refresh token means it was copied: the server revokes
// the whole family, so this comes last.
const reused = await client.POST("/api/token/refresh", { body: { refresh_token: spent } });
expectCode("reusing a spent refresh token", reused.error, reused.response, "invalid_refresh_token");

const after = await client.GET("/api/v1/me");
if (after.data) throw new Error("the family was revoked, yet its access token still works");
expectCode("the revoked family's access token", after.error, after.response, "invalid_token");

console.log("typed client: all steps passed");
