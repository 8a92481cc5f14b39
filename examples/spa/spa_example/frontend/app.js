// The board: a list view at "/" and an item view at "/items/<id>" (client-side routes).
(function () {
  "use strict";
  var state = { items: [] };
  var view = document.getElementById("view");
  var status = document.getElementById("status");

  function el(tag, text, attrs) {
    var node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    return node;
  }

  function render() {
    view.textContent = "";
    var match = window.location.pathname.match(/^\/items\/(\d+)$/);
    if (match) {
      var item = state.items.find(function (i) { return String(i.id) === match[1]; });
      view.appendChild(el("h2", item ? item.text : "No such item"));
      view.appendChild(el("a", "All items", { href: "/", "data-link": "" }));
      return;
    }
    var list = el("ul", undefined, { id: "items" });
    state.items.forEach(function (item) {
      var li = el("li");
      li.appendChild(el("a", item.text, { href: "/items/" + item.id, "data-link": "" }));
      var del = el("button", "Delete", { "data-delete": item.id, type: "button" });
      li.appendChild(del);
      list.appendChild(li);
    });
    view.appendChild(list);
  }

  function navigate(path) {
    window.history.pushState({}, "", path);
    render();
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest("a[data-link]");
    if (link) { event.preventDefault(); navigate(link.getAttribute("href")); return; }
    var del = event.target.closest("button[data-delete]");
    if (del) {
      Batteries.fetchJSON("/api/items/" + del.dataset.delete, { method: "DELETE" })
        .catch(function (error) { status.textContent = error.message; });
    }
  });
  window.addEventListener("popstate", render);

  document.getElementById("add-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var input = document.getElementById("text");
    Batteries.fetchJSON("/api/items", { method: "POST", data: { text: input.value } })
      .then(function () { input.value = ""; status.textContent = "Added."; })
      .catch(function (error) { status.textContent = error.message; });
  });

  function load(snapshot) { state.items = snapshot.items; render(); }
  Batteries.fetchJSON("/api/items").then(load);
  var source = new EventSource("/api/events");
  source.addEventListener("items", function (event) { load(JSON.parse(event.data)); });
})();
