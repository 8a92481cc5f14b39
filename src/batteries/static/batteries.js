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

  /* Batteries.upload(url, formData, {method, headers, onProgress, signal}) -> Promise.
   * Sends `formData` (a FormData, Blob or string) with XMLHttpRequest, because fetch() cannot
   * report upload progress. `onProgress(fraction, loaded, total)` is called as bytes leave the
   * browser (`fraction` is between 0 and 1, or null when the size is unknown) and once more
   * with fraction 1 when the upload is complete. Sends the X-CSRFToken header when the page has
   * <meta name="csrf-token"> and Accept: application/json, so errors come back as JSON.
   * Resolves to the answer's body (parsed when it is JSON, else text), like fetchJSON; rejects
   * with an Error whose .status, .body and .xhr are set on a non-2xx answer (413: file too large,
   * 400: type not allowed...), or on a network error or abort (status 0). Pass
   * {signal: controller.signal} to cancel.
   *
   *   Batteries.upload("/upload", new FormData(form), {
   *     onProgress: function (fraction) { bar.value = fraction; }
   *   }).then(function (body) { location = body.url; }, function (e) { alert(e.message); });
   */
  Batteries.upload = function (url, formData, options) {
    options = options || {};
    return new Promise(function (resolve, reject) {
      var xhr = new global.XMLHttpRequest();
      var progress = options.onProgress;
      var failed = function (message) {
        var error = new Error(message);
        error.status = 0;
        error.body = null;
        error.xhr = xhr;
        reject(error);
      };
      xhr.open((options.method || "POST").toUpperCase(), url, true);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.setRequestHeader("X-Requested-With", "XMLHttpRequest");
      var token = Batteries.csrfToken ? Batteries.csrfToken() : null;
      if (token) xhr.setRequestHeader("X-CSRFToken", token);
      var extra = options.headers || {};
      for (var name in extra) {
        if (Object.prototype.hasOwnProperty.call(extra, name)) xhr.setRequestHeader(name, extra[name]);
      }
      if (progress && xhr.upload) {
        xhr.upload.onprogress = function (event) {
          var total = event.lengthComputable ? event.total : null;
          progress(total ? event.loaded / total : null, event.loaded, total);
        };
        xhr.upload.onload = function (event) {
          progress(1, event.loaded, event.lengthComputable ? event.total : event.loaded);
        };
      }
      xhr.onload = function () {
        var type = xhr.getResponseHeader("Content-Type") || "";
        var body = xhr.responseText;
        if (type.indexOf("json") !== -1) {
          try { body = JSON.parse(body); } catch (e) { /* keep the text */ }
        }
        if (xhr.status >= 200 && xhr.status < 300) {
          resolve(body);
          return;
        }
        var message = (body && body.message) || xhr.statusText || ("HTTP " + xhr.status);
        var error = new Error(message);
        error.status = xhr.status;
        error.body = body;
        error.xhr = xhr;
        reject(error);
      };
      xhr.onerror = function () { failed("The upload failed: network error."); };
      xhr.onabort = function () { failed("The upload was cancelled."); };
      if (options.signal) {
        if (options.signal.aborted) { xhr.abort(); return; }
        options.signal.addEventListener("abort", function () { xhr.abort(); });
      }
      xhr.send(formData);
    });
  };

  /* Batteries.uploadForm(form, {onProgress, progress}) -> Promise: Batteries.upload() of a
   * <form>'s fields to its action (method POST; a _method field, if any, comes first in the
   * FormData as Batteries' method override expects). `progress` is an optional <progress>
   * element (or selector) kept up to date. */
  Batteries.uploadForm = function (form, options) {
    options = options || {};
    if (typeof form === "string") form = global.document.querySelector(form);
    var bar = options.progress;
    if (typeof bar === "string") bar = global.document.querySelector(bar);
    var data = new global.FormData(form);
    var onProgress = function (fraction, loaded, total) {
      if (bar) {
        if (fraction === null) bar.removeAttribute("value"); else bar.value = fraction;
      }
      if (options.onProgress) options.onProgress(fraction, loaded, total);
    };
    return Batteries.upload(form.action, data, { onProgress: onProgress, signal: options.signal, headers: options.headers });
  };


  global.Batteries = Batteries;
})(window);
