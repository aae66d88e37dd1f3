// Where the API lives. Empty: this page's own origin. examples/spa/serve.mjs
// answers /config.js itself with the URL given to --api, so this file is
// what the app uses when something else serves the directory.
export const API_BASE = "";
