/* The check page's one script (ipscope's own, served from this server: the Content-Security-Policy allows no
   inline script). After the first findings are shown, it sends the check form again to /check/semantic and puts
   the answer, the evidence by meaning (an HTML fragment the server rendered and escaped), in place of
   #semantic-slot. Without JavaScript, or when the request fails, the slot's button does the same by reloading the
   whole page with semantic=1. */
(function () {
  "use strict";

  function show(el, on) {
    if (el) { el.hidden = !on; }
  }

  function load(slot) {
    var form = document.getElementById(slot.getAttribute("data-form"));
    if (!form || !window.fetch || !window.FormData) { return; }
    var data = new FormData(form);
    data.delete("file"); /* the text box holds the text now, also when a file was uploaded */
    data.delete("format");
    show(slot.querySelector(".nojs"), false);
    show(slot.querySelector(".loading"), true);
    slot.setAttribute("aria-busy", "true");
    window.fetch(slot.getAttribute("data-src"), {
      method: "POST", body: data, credentials: "same-origin", headers: { "Accept": "text/html" }
    }).then(function (resp) {
      return resp.text().then(function (html) { return { ok: resp.ok, html: html }; });
    }).then(function (res) {
      var tpl = document.createElement("template");
      tpl.innerHTML = res.html;
      var section = tpl.content.querySelector("section");
      if (!section) { throw new Error("no section in the answer"); }
      slot.replaceWith(section);
    }).catch(function () {
      slot.removeAttribute("aria-busy");
      show(slot.querySelector(".loading"), false);
      show(slot.querySelector(".failed"), true);
      show(slot.querySelector(".nojs"), true);
    });
  }

  function start() {
    var slot = document.getElementById("semantic-slot");
    if (slot) { load(slot); }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
