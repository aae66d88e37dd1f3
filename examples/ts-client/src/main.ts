// A typed shelf client: every path, body and answer below is checked by
// `tsc --strict` against types generated from api/openapi-v1.json and
// api/openapi-v2.json
// (openapi-typescript), and sent with openapi-fetch. A document that drifts
// from what this program uses stops it compiling.
//
//   SHELF_API=http://127.0.0.1:8080 SHELF_USER=reader SHELF_PASSWORD=… node dist/src/main.js
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "../generated/v1.js";
import type { paths as PathsV2 } from "../generated/v2.js";

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

// 7. v2: the same catalog paged by opaque cursors, each book with the
// caller's own status and tags (`my`); tags and status as resources.
const v2 = createClient<PathsV2>({ baseUrl });
v2.use(bearer);
let cursor: string | undefined;
let pages = 0;
let mine: { status: ReadingStatus | null; tags: string[] } | undefined;
do {
  const query = cursor === undefined ? { q: "tolstoy", sort: "title", limit: 1 } : { cursor, limit: 1 };
  const page = await v2.GET("/api/v2/books", { params: { query } });
  if (!page.data) fail("v2 books", page.error, page.response);
  pages += 1;
  for (const candidate of page.data.data) {
    if (candidate.id === book.id) mine = candidate.my;
  }
  cursor = page.data.next_cursor ?? undefined;
} while (cursor !== undefined);
if (mine?.status !== status || !mine.tags.includes("typed-client")) {
  throw new Error(`v2 books: expected my = ${status} + typed-client on book ${book.id}, got ${JSON.stringify(mine)}`);
}
console.log(`v2 books: ${pages} page(s) by cursor; my on "${book.title}": ${mine.status} [${mine.tags.join(", ")}]`);

const tagPath = { params: { path: { id: book.id, tag: "v2 typed" } } };
const firstPut = await v2.PUT("/api/v2/books/{id}/tags/{tag}", tagPath);
const secondPut = await v2.PUT("/api/v2/books/{id}/tags/{tag}", tagPath);
if (!firstPut.data || !secondPut.data) fail("v2 tag", firstPut.error ?? secondPut.error, secondPut.response);
if (JSON.stringify(firstPut.data) !== JSON.stringify(secondPut.data)) {
  throw new Error("v2 tag: a repeated PUT answered differently");
}
const untagged = await v2.DELETE("/api/v2/books/{id}/tags/{tag}", tagPath);
const untaggedAgain = await v2.DELETE("/api/v2/books/{id}/tags/{tag}", tagPath);
if (!untagged.data || !untaggedAgain.data) fail("v2 untag", untagged.error ?? untaggedAgain.error, untaggedAgain.response);
console.log(`v2 tags: PUT twice → [${secondPut.data.tags.join(", ")}], DELETE twice → [${untaggedAgain.data.tags.join(", ")}]`);

const statusPath = { params: { path: { id: book.id } } };
const setV2 = await v2.PUT("/api/v2/books/{id}/status", { ...statusPath, body: { status: "reading" } });
if (!setV2.data) fail("v2 status", setV2.error, setV2.response);
const cleared = await v2.DELETE("/api/v2/books/{id}/status", statusPath);
if (cleared.response.status !== 204) throw new Error(`v2 status: DELETE answered ${cleared.response.status}`);
console.log(`v2 status: ${setV2.data.status} at ${setV2.data.updated_at}, then cleared (204)`);

const forged = await v2.GET("/api/v2/books", { params: { query: { cursor: "eyJhZnRlciI6MX0.forged" } } });
expectCode("a forged cursor", forged.error, forged.response, "invalid_cursor");

// 8. Errors: branch on the envelope's `code`, never on the message.
// The document says which columns exist, so the compiler refuses this
// typo; sent anyway, the server refuses it too.
// @ts-expect-error "price" is not a sort column
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
