// shelf's example browser app: a cookie session, the CSRF header on every
// write, and the error codes a browser app has to handle. No build step and
// no third-party code; the page may live on another origin of the same site
// as the API (config.js names the API, the server's SHELF_CORS_ORIGINS must
// name this page's origin).
import { API_BASE } from "./config.js";

const $ = (id) => document.getElementById(id);

// The CSRF value lives in memory only: a reload loses it and asks
// GET /api/session again. The session itself is an HttpOnly cookie that
// this code never sees.
let csrf = null;

class ApiError extends Error {
  constructor(status, body, retryAfter) {
    const error = body && body.error;
    super(error ? error.message : `HTTP ${status}`);
    this.status = status;
    this.code = error ? error.code : null;
    this.requestId = error ? error.request_id : null;
    this.retryAfter = retryAfter;
  }
}

// One request to the API. Cookies go along (credentials: "include") because
// the API may be on another origin of this site; writes carry X-CSRF-Token.
async function call(method, path, body) {
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && csrf) headers["X-CSRF-Token"] = csrf;
  const response = await fetch(API_BASE + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "include",
    // Revalidate with the ETag instead of trusting a stored copy: a 304 is
    // free of rate-limit cost and the library is never stale.
    cache: "no-cache",
  });
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    throw new ApiError(response.status, data, response.headers.get("Retry-After"));
  }
  return data;
}

// A write, retried once after a 403 csrf_failed with the CSRF value read
// again from GET /api/session (another tab may have signed in anew).
async function write(method, path, body) {
  try {
    return await call(method, path, body);
  } catch (error) {
    if (!(error instanceof ApiError) || error.code !== "csrf_failed") throw error;
    csrf = (await call("GET", "/api/session")).csrf_token;
    return await call(method, path, body);
  }
}

function say(text, kind = "info") {
  const message = $("message");
  message.textContent = text;
  message.dataset.kind = kind;
}

// What each failure means to the person using the page.
function report(error) {
  if (!(error instanceof ApiError)) {
    say(`Cannot reach the API at ${API_BASE || location.origin}: ${error.message}`, "error");
    return;
  }
  if (error.code === "invalid_credentials") {
    say("Wrong username or password.", "error");
  } else if (error.status === 401) {
    showSignedOut("Your session has ended: sign in again.");
  } else if (error.status === 403 && error.code === "csrf_failed") {
    say("The page's security token was refused twice: reload the page.", "error");
  } else if (error.status === 429) {
    const seconds = Number.parseInt(error.retryAfter ?? "", 10);
    const when = Number.isFinite(seconds)
      ? `try again in ${seconds} s (at ${new Date(Date.now() + seconds * 1000).toLocaleTimeString()})`
      : "try again later";
    say(`Too many requests: ${when}.`, "error");
  } else {
    say(`${error.message} (${error.code}, request ${error.requestId})`, "error");
  }
}

// Catches what an action throws, so every button reports the same way.
function action(run) {
  return async (event) => {
    event.preventDefault();
    try {
      await run(event);
    } catch (error) {
      report(error);
    }
  };
}

// The API's text fields are HTML-safe text (markup removed, & < >
// entity-encoded). Decoding them and assigning textContent shows them as
// written while nothing is ever parsed as markup in this document.
function text(value) {
  if (value == null) return "";
  return new DOMParser().parseFromString(value, "text/html").documentElement.textContent;
}

function showSignedOut(note) {
  csrf = null;
  $("app").hidden = true;
  $("sign-out").hidden = true;
  $("who").textContent = "";
  $("sign-in").hidden = false;
  say(note);
}

async function showSignedIn() {
  const me = await call("GET", "/api/v1/me");
  $("who").textContent = `signed in as ${text(me.username)}`;
  $("sign-in").hidden = true;
  $("app").hidden = false;
  $("sign-out").hidden = false;
  await loadLibrary();
}

async function loadLibrary() {
  const page = await call("GET", "/api/v1/library?per_page=100");
  const list = $("library");
  list.replaceChildren(
    ...page.books.map((book) => {
      const item = document.createElement("li");
      item.dataset.bookId = String(book.id);
      const tags = book.tags.map(text).join(", ");
      item.textContent = `${text(book.title)} — ${book.status ?? "no status"}${tags ? ` — tags: ${tags}` : ""}`;
      return item;
    }),
  );
  if (page.books.length === 0) {
    const empty = document.createElement("li");
    empty.textContent = "Nothing yet: tag a book or set its status.";
    list.replaceChildren(empty);
  }
}

function resultRow(book) {
  const row = $("result-row").content.firstElementChild.cloneNode(true);
  row.dataset.bookId = String(book.id);
  row.querySelector(".title").textContent = text(book.title);
  row.querySelector(".author").textContent = text(book.author);
  row.querySelector(".tag-form").addEventListener(
    "submit",
    action(async (event) => {
      const tag = event.target.elements.tag.value.trim();
      const answer = await write("POST", "/api/v1/add_tag", { tag, book_id: book.id });
      say(`Tagged “${text(book.title)}”: ${answer.tags.map(text).join(", ")}`);
      event.target.reset();
      await loadLibrary();
    }),
  );
  row.querySelector(".status-form").addEventListener(
    "submit",
    action(async (event) => {
      const status = event.target.elements.status.value;
      await write("POST", "/api/v1/change_status", { book_id: book.id, status });
      say(`“${text(book.title)}” is now ${status.replaceAll("_", " ")}.`);
      await loadLibrary();
    }),
  );
  return row;
}

$("sign-in-form").addEventListener(
  "submit",
  action(async (event) => {
    const form = event.target;
    const session = await call("POST", "/api/session", {
      username: form.elements.username.value,
      password: form.elements.password.value,
    });
    // On another origin the CSRF cookie belongs to the API's host; the
    // body carries the same value for exactly this case.
    csrf = session.csrf_token;
    form.reset();
    say("Signed in.");
    try {
      await showSignedIn();
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 401)) throw error;
      // The cookie was set but not sent back: the page and the API are on
      // different sites (say 127.0.0.1 and localhost), or a Secure cookie
      // met plain http on a host other than localhost.
      csrf = null;
      say("Signed in, but the browser does not send the session cookie back to the API: serve the app and the API on the same site.", "error");
    }
  }),
);

$("search-form").addEventListener(
  "submit",
  action(async (event) => {
    const q = event.target.elements.q.value;
    const page = await call("GET", `/api/v1/search?${new URLSearchParams({ q, per_page: "20" })}`);
    $("results").replaceChildren(...page.books.map(resultRow));
    say(`${page.total} book(s) match “${q}”.`);
  }),
);

$("reload-library").addEventListener("click", action(loadLibrary));

$("sign-out").addEventListener(
  "click",
  action(async () => {
    await write("DELETE", "/api/session");
    showSignedOut("Signed out.");
  }),
);

// On load: a live session cookie means we are signed in, and this is how a
// reloaded page learns its CSRF value again.
(async () => {
  try {
    csrf = (await call("GET", "/api/session")).csrf_token;
    await showSignedIn();
    say("Welcome back.");
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) showSignedOut("Sign in to see your library.");
    else report(error);
  }
  document.body.dataset.ready = "true";
})();
