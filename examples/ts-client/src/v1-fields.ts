// What a strict TypeScript client of v1 relies on, compiled against the
// types openapi-typescript generates from api/openapi-v1.json
// (examples/run-clients.sh). A document that drifts from this breaks it.
import type { components, paths } from "../generated/v1.js";

type Schemas = components["schemas"];

// Fields a response always carries are there, null where they can be: no
// `undefined` to handle.
export const bookFields = (book: Schemas["Book"]): [number, string, number | null, string | null, number | null] => [
    book.id,
    book.title,
    book.rating,
    book.isbn,
    book.published_year,
];
export const keyTimes = (key: Schemas["ApiKeyView"]): [string | null, string | null] => [key.last_used_at, key.expires_at];
export const nextPage = (page: Schemas["SecurityEventPage"]): number | null => page.next_before;
export const entryStatus = (entry: Schemas["LibraryEntry"]): Schemas["ReadingStatus"] | null => entry.status;
export const errorCode = (envelope: Schemas["ErrorEnvelope"]): Schemas["ErrorCode"] => envelope.error.code;

// Closed sets are enums, so a typo does not compile.
type EventsQuery = NonNullable<paths["/api/v1/admin/security-events"]["get"]["parameters"]["query"]>;
export const failedSignIns: EventsQuery["type"] = "login_failed";
// @ts-expect-error: not an event type
export const notAnEvent: EventsQuery["type"] = "logged_in";
type BooksQuery = NonNullable<paths["/api/v1/books"]["get"]["parameters"]["query"]>;
export const byRating: BooksQuery = { sortColumn: "rating", sortOrder: "desc", page: 1, per_page: 20 };
// @ts-expect-error: not a sort column
export const byYear: BooksQuery = { sortColumn: "year" };

// The revoke body is optional, and may be null.
type RevokeBody = NonNullable<paths["/api/token/revoke"]["post"]["requestBody"]>["content"]["application/json"];
export const noNamedToken: RevokeBody = null;
