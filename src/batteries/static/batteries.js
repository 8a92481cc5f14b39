/* batteries.js: the browser side of Batteries. No build step, no dependency.
 * Served at /_batteries/batteries.js (BATTERIES_STATIC_URL) and linked by batteries/base.html.
 * Everything is on window.Batteries.
 */
(function (global) {
  "use strict";
  var Batteries = global.Batteries || {};

  // ---- fetch, JSON, CSRF, URL map (routing and views) -------------------------------------

  // ---- uploads with progress (request layer) ------------------------------------------------

  global.Batteries = Batteries;
})(window);
