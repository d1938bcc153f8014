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

  async function swap() {
    try {
      const response = await fetch(location.href, { cache: "no-store" });
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      const version = page.documentElement.dataset.version;
      if (!version) {
        throw new Error("not a preview page");
      }
      document.title = page.title;
      document.body.replaceWith(document.adoptNode(page.body));
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
    source.addEventListener("reload", function () {
      source.close();
      source = null;
      swap();
    });
  }

  connect();
})();
