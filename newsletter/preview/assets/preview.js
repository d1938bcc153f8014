// Live reload for `newsletter preview`: on a server-sent "reload" event, fetch the page again
// and swap its body in, so the email frames, the inbox line and the findings all update.
"use strict";
(function () {
  let source = null;

  function setLive(text, state) {
    const live = document.getElementById("live");
    if (live) {
      live.textContent = text;
      live.className = "live " + state;
    }
  }

  // "reload": a new render, swap the whole body. "findings": only the check panel changed.
  async function swap(onlyFindings) {
    try {
      const response = await fetch(location.href, { cache: "no-store" });
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      const version = page.documentElement.dataset.version;
      if (!version) {
        throw new Error("not a preview page");
      }
      const panel = document.getElementById("findings");
      const fresh = page.getElementById("findings");
      if (onlyFindings && panel && fresh) {
        panel.replaceWith(document.adoptNode(fresh));
      } else {
        document.title = page.title;
        document.body.replaceWith(document.adoptNode(page.body));
      }
      document.documentElement.dataset.version = version;
      connect();
    } catch (error) {
      location.reload();
    }
  }

  function connect() {
    if (source) {
      source.close();
    }
    const version = document.documentElement.dataset.version || "";
    source = new EventSource("/events?since=" + encodeURIComponent(version));
    source.onopen = function () {
      setLive("live: updates when you save", "on");
    };
    source.onerror = function () {
      setLive("disconnected: is newsletter preview still running?", "off");
    };
    for (const kind of ["reload", "findings"]) {
      source.addEventListener(kind, function () {
        source.close();
        source = null;
        swap(kind === "findings");
      });
    }
  }

  connect();
})();
