// kefu's web chat page. Everything a visitor, the bot or an agent wrote is put in the page as
// text (textContent), never as HTML. The page's own words come from kefu's catalogues
// (/chat/texts); the conversation from the socket (/chat/socket).
"use strict";

(function () {
  const params = new URLSearchParams(location.search);
  const embedded = params.get("embed") === "1";
  const LANGUAGE_KEY = "kefu.language";
  const $ = (id) => document.getElementById(id);
  const list = $("messages");
  const input = $("text");
  let texts = { zh: {}, en: {} };
  let language = chooseLanguage();
  let socket = null;
  let retry = 0;
  let waiting = 0; // messages and presses sent whose handling has not finished

  function chooseLanguage() {
    const chosen = params.get("lang") || localStorage.getItem(LANGUAGE_KEY) || navigator.language || "";
    return chosen.toLowerCase().startsWith("zh") ? "zh" : "en";
  }

  function say(key) {
    return texts[language][key] || texts.en[key] || "";
  }

  function showWords() {
    document.documentElement.lang = language === "zh" ? "zh-CN" : "en";
    document.title = say("web_title");
    $("title").textContent = say("web_title");
    $("language").textContent = say("web_language");
    $("send").textContent = say("web_send");
    $("attach").title = say("web_attach");
    $("attach").setAttribute("aria-label", say("web_attach"));
    $("close").textContent = "×";
    $("close").title = say("web_close");
    $("close").setAttribute("aria-label", say("web_close"));
    input.placeholder = say("web_placeholder");
    $("typing-text").textContent = say("web_typing");
    const empty = list.querySelector(".empty");
    if (empty) empty.textContent = say("web_empty");
  }

  function setTyping(delta) {
    waiting = Math.max(0, waiting + delta);
    $("typing").hidden = waiting === 0;
    if (waiting) scrollDown();
  }

  function scrollDown() {
    list.scrollTop = list.scrollHeight;
  }

  function showEmpty() {
    if (list.children.length) return;
    const item = document.createElement("li");
    item.className = "empty";
    item.textContent = say("web_empty");
    list.appendChild(item);
  }

  function safeLink(url) {
    try {
      const parsed = new URL(url);
      return parsed.protocol === "https:" || parsed.protocol === "http:" ? parsed.href : null;
    } catch (error) {
      return null;
    }
  }

  function renderButtons(message, rows) {
    const box = document.createElement("div");
    box.className = "buttons";
    for (const row of rows) {
      const line = document.createElement("div");
      line.className = "row";
      for (const button of row) {
        const url = button.url ? safeLink(button.url) : null;
        let element;
        if (url) {
          element = document.createElement("a");
          element.href = url;
          element.target = "_blank";
          element.rel = "noopener noreferrer";
        } else if (button.data) {
          element = document.createElement("button");
          element.type = "button";
          element.addEventListener("click", () => press(message.id, button.data, element));
        } else {
          continue;
        }
        element.textContent = button.text;
        line.appendChild(element);
      }
      box.appendChild(line);
    }
    return box;
  }

  // A photo or file on the page: served by kefu to this visitor's cookie only.
  function renderMedia(media) {
    const url = "/chat/file/" + encodeURIComponent(String(media.id));
    if (media.kind === "photo") {
      const link = document.createElement("a");
      link.href = url;
      link.target = "_blank";
      link.rel = "noopener";
      const image = document.createElement("img");
      image.className = "photo";
      image.src = url;
      image.alt = say("web_photo");
      image.loading = "lazy";
      image.addEventListener("load", scrollDown);
      link.appendChild(image);
      return link;
    }
    const link = document.createElement("a");
    link.className = "file";
    link.href = url;
    link.download = media.name || "file";
    link.textContent = "📎 " + say("web_download") + ": " + (media.name || "file");
    return link;
  }

  function fill(item, message) {
    item.replaceChildren();
    const bubble = document.createElement("div");
    bubble.className = "bubble";
    bubble.textContent = message.text;
    if (message.media) {
      bubble.prepend(renderMedia(message.media));
      if (!message.text) bubble.classList.add("only-media");
    }
    item.appendChild(bubble);
    if (message.file) {
      const bytes = Uint8Array.from(atob(message.file.data), (c) => c.charCodeAt(0));
      const link = document.createElement("a");
      link.className = "file";
      link.href = URL.createObjectURL(new Blob([bytes], { type: "application/octet-stream" }));
      link.download = message.file.name;
      link.textContent = say("web_download") + ": " + message.file.name;
      item.appendChild(link);
    }
    if (message.buttons && message.buttons.length) {
      item.appendChild(renderButtons(message, message.buttons));
    }
  }

  function show(message) {
    const empty = list.querySelector(".empty");
    if (empty) empty.remove();
    let item = message.id != null ? list.querySelector(`[data-id="${message.id}"]`) : null;
    if (!item) {
      item = document.createElement("li");
      if (message.id != null) item.dataset.id = String(message.id);
      list.appendChild(item);
    }
    item.className = "message " + (message.from === "visitor" ? "visitor" : message.from === "note" ? "note" : "bot");
    fill(item, message);
    scrollDown();
  }

  function note(text) {
    show({ id: null, from: "note", text: text, buttons: [] });
  }

  function send(frame) {
    if (!socket || socket.readyState !== WebSocket.OPEN) return false;
    socket.send(JSON.stringify(frame));
    return true;
  }

  function press(id, data, element) {
    if (send({ type: "press", id: id, data: data })) {
      element.disabled = true;
      setTyping(1);
    }
  }

  function received(event) {
    const frame = JSON.parse(event.data);
    if (frame.type === "history") {
      list.replaceChildren();
      frame.messages.forEach(show);
      showEmpty();
    } else if (frame.type === "message" || frame.type === "edit") {
      show(frame);
    } else if (frame.type === "note") {
      note(frame.text);
    } else if (frame.type === "refused") {
      note(frame.text);
      setTyping(-1);
    } else if (frame.type === "done") {
      setTyping(-1);
    }
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const current = new WebSocket(`${scheme}//${location.host}/chat/socket?lang=${language}`);
    socket = current;
    current.addEventListener("open", () => {
      retry = 0;
      $("status").hidden = true;
    });
    current.addEventListener("message", received);
    current.addEventListener("close", () => {
      if (socket !== current) return; // replaced on purpose (a new language)
      waiting = 0;
      setTyping(0);
      $("status").textContent = say("web_reconnecting");
      $("status").hidden = false;
      retry = Math.min(retry + 1, 6);
      setTimeout(connect, 500 * 2 ** retry);
    });
  }

  function reconnect() {
    if (socket) {
      const old = socket;
      socket = null;
      old.close();
    }
    connect();
  }

  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    if (send({ type: "write", text: text })) {
      input.value = "";
      setTyping(1);
    }
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      $("composer").requestSubmit();
    }
  });
  // A photo or PDF: posted to /chat/upload; the answer comes through the socket, a refusal
  // (too large, another kind, too many) in the response, in the visitor's language.
  async function upload(file) {
    const form = new FormData();
    form.append("file", file, "upload");
    const caption = input.value.trim();
    if (caption) form.append("caption", caption);
    setTyping(1);
    try {
      const response = await fetch(`/chat/upload?lang=${language}`, { method: "POST", body: form });
      if (!response.ok) {
        let text = say("web_upload_failed");
        try {
          text = (await response.json()).error || text;
        } catch (error) {
          // not JSON (a proxy's page): the general sentence
        }
        note(text);
        setTyping(-1);
      } else if (caption) {
        input.value = "";
      }
    } catch (error) {
      note(say("web_upload_failed"));
      setTyping(-1);
    }
  }

  $("attach").addEventListener("click", () => $("file").click());
  $("file").addEventListener("change", () => {
    const file = $("file").files[0];
    $("file").value = "";
    if (file) upload(file);
  });

  $("language").addEventListener("click", () => {
    language = language === "zh" ? "en" : "zh";
    localStorage.setItem(LANGUAGE_KEY, language);
    showWords();
    reconnect(); // the bot hears the new language from the next message on
  });
  if (embedded) {
    document.body.classList.add("embedded");
    $("close").hidden = false;
    $("close").addEventListener("click", () => parent.postMessage({ kefu: "close" }, "*"));
  }

  fetch("/chat/texts")
    .then((response) => response.json())
    .then((words) => {
      texts = words;
      showWords();
    })
    .finally(connect);
})();
