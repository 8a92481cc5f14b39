/* batteries.js: the browser side of Batteries. No build step, no dependency.
 * Served at /_batteries/batteries.js (BATTERIES_STATIC_URL) and linked by batteries/base.html.
 * Everything is on window.Batteries.
 */
(function (global) {
  "use strict";
  var Batteries = global.Batteries || {};

  // ---- fetch, JSON, CSRF, URL map (routing and views) -------------------------------------

  /* The CSRF token of <meta name="csrf-token" content="..."> (batteries/base.html), or null. */
  Batteries.csrfToken = function () {
    var meta = global.document && global.document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : null;
  };

  /* Batteries.fetchJSON(url, {method, data, headers}) -> Promise of the parsed JSON body.
   * Sends `data` as a JSON body, the X-CSRFToken header when the page has a token, and
   * Accept: application/json (so errors come back as JSON). Follows redirects: a redirect that
   * ends on a JSON answer resolves to that JSON; one that ends on a page navigates there
   * (unless {follow: false}) and resolves to {redirected: true, location, data}. On a status that
   * is not 2xx it rejects with an Error whose .status, .body (the parsed JSON error, with
   * .message) and .response are set. */
  Batteries.fetchJSON = function (url, options) {
    options = options || {};
    var method = (options.method || (options.data !== undefined ? "POST" : "GET")).toUpperCase();
    var headers = { Accept: "application/json", "X-Requested-With": "XMLHttpRequest" };
    var extra = options.headers || {};
    for (var name in extra) {
      if (Object.prototype.hasOwnProperty.call(extra, name)) headers[name] = extra[name];
    }
    var init = { method: method, headers: headers, credentials: "same-origin", redirect: "follow" };
    if (options.data !== undefined && method !== "GET" && method !== "HEAD") {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(options.data);
    }
    if (method !== "GET" && method !== "HEAD") {
      var token = Batteries.csrfToken();
      if (token && !headers["X-CSRFToken"]) headers["X-CSRFToken"] = token;
    }
    return global.fetch(url, init).then(function (response) {
      var type = response.headers.get("Content-Type") || "";
      var isJSON = type.indexOf("json") !== -1;
      var body = response.status === 204 ? Promise.resolve(null)
        : (isJSON ? response.json().catch(function () { return null; }) : response.text());
      return body.then(function (data) {
        if (!response.ok) {
          var message = (data && data.message) || response.statusText || ("HTTP " + response.status);
          var error = new Error(message);
          error.status = response.status;
          error.body = data;
          error.response = response;
          throw error;
        }
        if (response.redirected && !isJSON) {
          // The server answered with a redirect to a page (after a form-like POST, say):
          // go there, unless the caller asked to handle it ({follow: false}).
          if (options.follow !== false && global.location) global.location.assign(response.url);
          return { redirected: true, location: response.url, data: data };
        }
        return data;
      });
    });
  };

  /* Batteries.replace(selector, url[, options]) -> Promise: fetch `url` as HTML and put it in
   * place of the content of the element matched by `selector`. Rejects (content unchanged) on
   * a non-2xx answer or when nothing matches the selector. */
  Batteries.replace = function (selector, url, options) {
    var target = typeof selector === "string" ? global.document.querySelector(selector) : selector;
    if (!target) return Promise.reject(new Error("Batteries.replace: nothing matches " + selector));
    options = options || {};
    var headers = { Accept: "text/html", "X-Requested-With": "XMLHttpRequest" };
    var init = { method: (options.method || "GET").toUpperCase(), headers: headers, credentials: "same-origin" };
    if (init.method !== "GET" && init.method !== "HEAD") {
      var token = Batteries.csrfToken();
      if (token) headers["X-CSRFToken"] = token;
    }
    return global.fetch(url, init).then(function (response) {
      return response.text().then(function (html) {
        if (!response.ok) {
          var error = new Error("Batteries.replace: HTTP " + response.status);
          error.status = response.status;
          error.response = response;
          throw error;
        }
        target.innerHTML = html;
        return target;
      });
    });
  };

  var urlMap = null;

  /* The URL patterns of {{ js_urls(...) }} (a <script id="batteries-urls"> JSON block). */
  Batteries.urlMap = function () {
    if (urlMap === null) {
      var node = global.document && global.document.getElementById("batteries-urls");
      urlMap = node ? JSON.parse(node.textContent || "{}") : {};
    }
    return urlMap;
  };

  /* Batteries.url(endpoint, params) -> URL string, like url_for: arguments of the rule go in the
   * path (encoded; a `path` argument keeps its slashes), the others in the query string.
   * Throws an Error naming the endpoint when it is unknown or an argument is missing. */
  Batteries.url = function (endpoint, params) {
    params = params || {};
    var rules = Batteries.urlMap()[endpoint];
    if (!rules) throw new Error("Batteries.url: unknown endpoint " + endpoint + " (add it to js_urls)");
    for (var i = 0; i < rules.length; i++) {
      var rule = rules[i];
      var values = {};
      var key;
      var defaults = rule.defaults || {};
      for (key in defaults) values[key] = defaults[key];
      for (key in params) if (params[key] !== undefined && params[key] !== null) values[key] = params[key];
      var ok = rule.args.every(function (arg) { return values[arg] !== undefined; });
      if (!ok) continue;
      var raw = rule.raw || [];
      var used = {};
      var path = rule.pattern.replace(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g, function (_, arg) {
        used[arg] = true;
        var value = String(values[arg]);
        return raw.indexOf(arg) !== -1 ? value.split("/").map(encodeURIComponent).join("/") : encodeURIComponent(value);
      });
      var query = [];
      for (key in params) {
        if (!used[key] && params[key] !== undefined && params[key] !== null) {
          query.push(encodeURIComponent(key) + "=" + encodeURIComponent(String(params[key])));
        }
      }
      return query.length ? path + "?" + query.join("&") : path;
    }
    throw new Error("Batteries.url: missing arguments for " + endpoint + " (needs " + rules[0].args.join(", ") + ")");
  };

  // ---- uploads with progress (request layer) ------------------------------------------------

  global.Batteries = Batteries;
})(window);
