// Drives the example browser app in headless Chromium (Debian's package,
// through playwright-core) against a live shelf, from another origin of
// the same site, and checks that a page on an origin shelf does not allow
// can neither read nor write with the user's cookies.
//
// examples/run-clients.sh starts shelf and sets:
//   SHELF_API        the API's base URL, e.g. http://localhost:18081
//   SPA_PORT         the port of the app's origin (http://localhost:SPA_PORT is in SHELF_CORS_ORIGINS)
//   SPA_USER, SPA_PASSWORD     a user with an empty library
//   LOCKED_USER      a user whose sign-ins the test fails until shelf answers 429
//   SHELF_COOKIE_SECURE  as shelf was started with (default true)
//   CHROMIUM         the browser (default /usr/bin/chromium)
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { serveApp } from "./serve.mjs";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (run examples/run-clients.sh)`);
  return value;
};
const API = env("SHELF_API");
const USER = env("SPA_USER");
const PASSWORD = env("SPA_PASSWORD");
const LOCKED_USER = env("LOCKED_USER");
// shelf's SHELF_COOKIE_SECURE: Chromium accepts Secure (and so __Host-)
// cookies from http://localhost, a potentially trustworthy origin, so the
// test passes either way; other hosts on plain http need it false.
const SECURE = process.env.SHELF_COOKIE_SECURE !== "false";

const step = (text) => console.log(`  - ${text}`);

// A page on an origin shelf does not allow, of the same site as the app
// (localhost, another port): the browser sends it the user's cookies, so
// only CORS and the CSRF check stand in its way.
async function serveHostilePage() {
  const server = createServer((_, response) => {
    response.writeHead(200, { "Content-Type": "text/html" }).end("<!doctype html><title>elsewhere</title><p>another origin");
  });
  await new Promise((resolve) => server.listen(0, "localhost", resolve));
  return { server, origin: `http://localhost:${server.address().port}` };
}

// What the API says about the user, asked with a bearer token from outside
// the browser: the ground truth the browser's actions are checked against.
async function libraryAsSeenByApi() {
  const token = await fetch(`${API}/api/token`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username: USER, password: PASSWORD }),
  });
  assert.equal(token.status, 200, "bearer sign-in for the final check");
  const { access_token } = await token.json();
  const library = await fetch(`${API}/api/v1/library?per_page=100`, {
    headers: { Authorization: `Bearer ${access_token}` },
  });
  assert.equal(library.status, 200);
  return (await library.json()).books;
}

const app = await serveApp({ api: API, port: Number(env("SPA_PORT")) });
const hostile = await serveHostilePage();
const profile = await mkdtemp(join(tmpdir(), "shelf-chromium-"));
// A persistent context on a new, empty profile is how Playwright takes a
// --user-data-dir; it is also the browser's one cookie jar.
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  // Chromium's own network traffic (updates, sync, field trials) is refused
  // on a closed network; these flags keep it from trying.
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});

try {
  // Fail in seconds, not Playwright's 30 s, when the app does not answer.
  context.setDefaultTimeout(10_000);
  const page = context.pages()[0] ?? (await context.newPage());
  const cspViolations = [];
  page.on("console", (message) => {
    if (/Content Security Policy/i.test(message.text())) cspViolations.push(message.text());
  });
  page.on("pageerror", (error) => cspViolations.push(`page error: ${error.message}`));
  const message = page.locator("#message");

  const open = async () => {
    await page.goto(`${app.origin}/`);
    await page.locator("body[data-ready=true]").waitFor();
  };
  const signIn = async (username, password) => {
    await page.fill("#sign-in-form [name=username]", username);
    await page.fill("#sign-in-form [name=password]", password);
    await page.click("#sign-in-form button");
  };
  const search = async (q) => {
    await page.fill("#search-form [name=q]", q);
    await page.click("#search-form button");
    await page.locator("#results li").first().waitFor();
    return page.locator("#results li").first();
  };

  step(`app on ${app.origin}, API on ${API}: signed out at first`);
  await open();
  await page.locator("#sign-in").waitFor();
  assert.match(await message.textContent(), /Sign in/);

  step("sign in with a cookie session");
  await signIn(USER, PASSWORD);
  await page.locator("#who", { hasText: `signed in as ${USER}` }).waitFor();
  assert.ok(await page.locator("#library", { hasText: "Nothing yet" }).isVisible());
  const cookies = await context.cookies(API);
  const session = cookies.find((cookie) => cookie.name === (SECURE ? "__Host-shelf_session" : "shelf_session"));
  assert.ok(session, `the session cookie is set for the API's host (${cookies.map((c) => c.name)})`);
  assert.equal(session.httpOnly, true);
  assert.equal(session.secure, SECURE);
  assert.equal(session.sameSite, "Strict");

  step("search and tag a book");
  let row = await search("war and peace");
  const bookId = Number(await row.getAttribute("data-book-id"));
  const title = await row.locator(".title").textContent();
  await row.locator("[name=tag]").fill("epic");
  await row.locator(".tag-form button").click();
  await page.locator("#message", { hasText: "Tagged" }).waitFor();
  await page.locator(`#library li[data-book-id="${bookId}"]`, { hasText: "tags: epic" }).waitFor();

  step("reload: the session survives and the CSRF value is read again from GET /api/session");
  await open();
  await page.locator("#message", { hasText: "Welcome back" }).waitFor();
  await page.locator(`#library li[data-book-id="${bookId}"]`, { hasText: "epic" }).waitFor();

  step("set a status (a write: it needs the CSRF value learnt after the reload)");
  row = await search("war and peace");
  await row.locator("[name=status]").selectOption("reading");
  await row.locator(".status-form button").click();
  await page.locator("#message", { hasText: "is now reading" }).waitFor();
  await page.locator(`#library li[data-book-id="${bookId}"]`, { hasText: `${title} — reading — tags: epic` }).waitFor();

  step("403 csrf_failed: a sign-in elsewhere replaced the session; the app re-reads the CSRF value and retries");
  const statuses = [];
  const recordStatus = (response) => {
    if (response.url().startsWith(API)) statuses.push(`${response.request().method()} ${new URL(response.url()).pathname} ${response.status()}`);
  };
  page.on("response", recordStatus);
  const other = await context.newPage();
  await other.goto(`${app.origin}/`);
  await other.locator("body[data-ready=true]").waitFor();
  await other.click("#sign-out");
  await other.locator("#sign-in").waitFor();
  await other.fill("#sign-in-form [name=username]", USER);
  await other.fill("#sign-in-form [name=password]", PASSWORD);
  await other.click("#sign-in-form button");
  await other.locator("#who", { hasText: USER }).waitFor();
  await other.close();
  row = page.locator(`#results li[data-book-id="${bookId}"]`);
  await row.locator("[name=tag]").fill("classic");
  await row.locator(".tag-form button").click();
  await page.locator("#message", { hasText: "Tagged" }).waitFor();
  page.off("response", recordStatus);
  assert.deepEqual(
    statuses.filter((line) => !line.includes("/library")),
    ["POST /api/v1/add_tag 403", "GET /api/session 200", "POST /api/v1/add_tag 200"],
  );

  step("401: the cookies are gone; the app asks to sign in again");
  await context.clearCookies();
  await page.click("#reload-library");
  await page.locator("#message", { hasText: "Your session has ended" }).waitFor();
  assert.ok(await page.locator("#sign-in").isVisible());
  await signIn(USER, PASSWORD);
  await page.locator(`#library li[data-book-id="${bookId}"]`, { hasText: "classic, epic" }).waitFor();

  step(`a page on ${hostile.origin} (same site, not in SHELF_CORS_ORIGINS) cannot use the cookies`);
  const evil = await context.newPage();
  await evil.goto(`${hostile.origin}/`);
  const attempts = await evil.evaluate(
    async ({ api, bookId }) => {
      const outcome = async (request) => {
        try {
          const response = await request();
          return response.type === "opaque" ? "opaque" : `read ${response.status}: ${await response.text()}`;
        } catch (error) {
          return `refused: ${error.name}`;
        }
      };
      // Cookies are not port-scoped: the readable CSRF cookie of the API's
      // host is visible here. Writes must fail anyway.
      const stolen = (document.cookie.match(/(?:^|; )(?:__Host-)?shelf_csrf=([^;]*)/) || [])[1] || "";
      const json = { "Content-Type": "application/json", "X-CSRF-Token": stolen };
      const body = JSON.stringify({ tag: "pwned", book_id: bookId });
      return {
        stolenCsrf: stolen !== "",
        readLibrary: await outcome(() => fetch(`${api}/api/v1/library`, { credentials: "include" })),
        readSession: await outcome(() => fetch(`${api}/api/session`, { credentials: "include" })),
        writeWithHeader: await outcome(() =>
          fetch(`${api}/api/v1/add_tag`, { method: "POST", credentials: "include", headers: json, body }),
        ),
        // A "simple" request needs no preflight: it reaches the server with the
        // cookies, but can carry neither the CSRF header nor a JSON type.
        writeSimple: await outcome(() =>
          fetch(`${api}/api/v1/add_tag`, { method: "POST", mode: "no-cors", credentials: "include", body }),
        ),
        signOut: await outcome(() =>
          fetch(`${api}/api/session`, { method: "DELETE", credentials: "include", headers: json }),
        ),
      };
    },
    { api: API, bookId },
  );
  await evil.close();
  console.log(`    ${JSON.stringify(attempts)}`);
  assert.equal(attempts.readLibrary, "refused: TypeError");
  assert.equal(attempts.readSession, "refused: TypeError");
  assert.equal(attempts.writeWithHeader, "refused: TypeError");
  assert.equal(attempts.writeSimple, "opaque");
  assert.equal(attempts.signOut, "refused: TypeError");

  step("the session outlived the attack (what it wrote is checked through the API at the end)");
  const sessionStatus = async () =>
    page.evaluate(async (api) => (await fetch(`${api}/api/session`, { credentials: "include" })).status, API);
  assert.equal(await sessionStatus(), 200);

  step("sign out: the session is dead on the server, not only its cookie gone");
  const signedIn = await context.cookies(API);
  await page.click("#sign-out");
  await page.locator("#message", { hasText: "Signed out" }).waitFor();
  assert.ok(await page.locator("#sign-in").isVisible());
  assert.equal(await sessionStatus(), 401);
  await context.addCookies(signedIn);
  assert.equal(await sessionStatus(), 401, "the old session cookie, put back, is refused");
  await context.clearCookies();

  step("429: repeated wrong passwords; the app says when to retry (Retry-After)");
  let retryMessage = "";
  for (let attempt = 0; attempt < 10 && !retryMessage; attempt += 1) {
    await page.locator("#message").evaluate((node) => (node.textContent = ""));
    await signIn(LOCKED_USER, "not-the-password");
    await page.locator("#message:not(:empty)").waitFor();
    const text = await message.textContent();
    if (text.startsWith("Too many requests")) retryMessage = text;
    else assert.equal(text, "Wrong username or password.");
  }
  assert.match(retryMessage, /^Too many requests: try again in \d+ s \(at .+\)\.$/);

  assert.deepEqual(cspViolations, [], "the app runs under its CSP without violations or errors");

  step("the API agrees: status and tags as set in the browser, no tag from the other origin");
  const books = await libraryAsSeenByApi();
  assert.equal(books.length, 1);
  assert.equal(books[0].id, bookId);
  assert.equal(books[0].status, "reading");
  assert.deepEqual(books[0].tags, ["classic", "epic"]);
  console.log("browser app: all checks passed");
} finally {
  await context.close();
  app.server.close();
  hostile.server.close();
  await rm(profile, { recursive: true, force: true });
}
