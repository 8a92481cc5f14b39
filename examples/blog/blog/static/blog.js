// The post form: send it with Batteries.upload so the progress bar follows the upload.
document.addEventListener("DOMContentLoaded", function () {
  var form = document.getElementById("post-form");
  if (!form || !window.Batteries || !window.Batteries.upload) return;
  var bar = document.querySelector(form.dataset.progress);
  var percent = document.getElementById("upload-percent");
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    bar.hidden = false;
    window.Batteries.upload(form.action || window.location.href, new FormData(form), {
      headers: { Accept: "application/json" },
      onProgress: function (fraction) {
        bar.value = Math.round(fraction * 100);
        percent.textContent = bar.value + "%";
      },
    }).then(function (result) {
      // Let the reader see the bar full for a moment, then go to the new post.
      if (result && result.location) {
        window.setTimeout(function () { window.location = result.location; }, 400);
      }
    }).catch(function (error) {
      // Show what the server said: the fields' messages, else the error's message.
      var body = error && error.body;
      var messages = [];
      if (body && body.errors) {
        Object.keys(body.errors).forEach(function (field) {
          messages = messages.concat(body.errors[field]);
        });
      }
      percent.textContent = messages.join(" ") || (body && body.message) ||
        (error && error.message) || "Upload failed";
    });
  });
});
