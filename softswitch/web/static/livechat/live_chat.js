/* Live Chat widget (omnichannel.md §3.12; softswitch/messaging/livechat.py has the frames).
 * Embed: <script src="https://{switch}/live_chat.v1.0.0.js?channelNumber=LC00000"></script>
 * Plain JS, no build step. It shows nothing until the switch accepted this page's domain
 * (the websocket's "welcome"); the visitor's token is kept in localStorage so that a reload
 * resumes the chat. */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) { return; }
  var src = new URL(script.src, location.href);
  var channel = src.searchParams.get("channelNumber") || "";
  if (!/^LC[0-9]{5}$/.test(channel)) { return; }
  var wsUrl = (src.protocol === "https:" ? "wss://" : "ws://") + src.host +
    "/api/v1/livechat/" + channel + "/ws";
  var KEY = "softswitch-livechat:" + channel;
  var TEXTS = {
    en: {title: "Chat with us", send: "Send", image: "Image", end: "End chat",
         start: "Start chat", placeholder: "Type a message", ended: "The chat has ended.",
         agent: "Agent", you: "You", call: "Call", hangup: "Hang up",
         calling: "Calling…", ringing: "Ringing…", connected: "Connected",
         callEnded: "Call ended", httpsOnly: "Calls work only over HTTPS",
         noMic: "No microphone available", incoming: "Incoming call", accept: "Accept",
         decline: "Decline", connecting: "Connecting…"},
    zh: {title: "在线咨询", send: "发送", image: "图片", end: "结束会话", start: "开始聊天",
         placeholder: "请输入消息", ended: "本次聊天已结束。", agent: "客服", you: "我",
         call: "通话", hangup: "挂断", calling: "正在呼叫…", ringing: "振铃中…",
         connected: "通话中", callEnded: "通话已结束", httpsOnly: "通话仅支持 HTTPS 网页",
         noMic: "没有可用的麦克风", incoming: "来电", accept: "接听", decline: "拒绝",
         connecting: "正在连接…"}
  };
  var saved = {};
  try { saved = JSON.parse(localStorage.getItem(KEY) || "{}") || {}; } catch (e) { saved = {}; }
  function save() {
    try { localStorage.setItem(KEY, JSON.stringify(saved)); } catch (e) { /* private mode */ }
  }

  var ws = null, welcomed = false, shown = {}, config = null, root = null, t = TEXTS.en;
  var els = {}, opened = false, retry = 0, seq = 0;
  var pc = null, mic = null, callState = "idle";

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function style() {
    var css = [
      "#lc-root{position:fixed;right:20px;bottom:20px;z-index:2147483000;",
      "font:14px/1.4 system-ui,sans-serif;color:#222}",
      "#lc-bubble{width:56px;height:56px;border-radius:50%;border:0;background:#1a73e8;",
      "color:#fff;font-size:24px;cursor:pointer;box-shadow:0 2px 8px rgba(0,0,0,.3);",
      "float:right}",
      "#lc-panel{width:320px;height:440px;background:#fff;border:1px solid #ccc;",
      "border-radius:8px;display:none;flex-direction:column;margin-bottom:8px;",
      "box-shadow:0 4px 16px rgba(0,0,0,.25);overflow:hidden}",
      "#lc-panel.lc-open{display:flex}",
      "#lc-head{background:#1a73e8;color:#fff;padding:8px 12px;display:flex;",
      "justify-content:space-between;align-items:center}",
      "#lc-head button{background:transparent;border:1px solid #fff;color:#fff;",
      "border-radius:4px;cursor:pointer}",
      "#lc-messages{flex:1;overflow-y:auto;padding:8px}",
      ".lc-msg{margin:4px 0;padding:6px 8px;border-radius:6px;max-width:85%;",
      "word-wrap:break-word;white-space:pre-wrap}",
      ".lc-visitor{background:#e3efff;margin-left:auto}",
      ".lc-agent{background:#f1f1f1}",
      ".lc-system{background:#fff8e1;font-style:italic;max-width:100%}",
      ".lc-msg>img{max-width:100%;min-width:16px;min-height:16px;display:block}",
      "#lc-form,#lc-compose{padding:8px;border-top:1px solid #ddd}",
      "#lc-form label{display:block;margin-bottom:4px}",
      "#lc-form input{width:100%;box-sizing:border-box}",
      "#lc-compose{display:flex;gap:4px}",
      "#lc-input{flex:1;min-width:0}",
      "#lc-error{color:#b00020;padding:0 8px;font-size:12px}",
      "#lc-call{padding:4px 8px;border-bottom:1px solid #ddd;display:flex;gap:6px;",
      "align-items:center}",
      "#lc-call-state{flex:1;font-size:12px}",
      ".lc-who{display:flex;align-items:center;gap:4px;font-size:12px;color:#555;",
      "font-style:normal;margin-bottom:2px}",
      ".lc-avatar{width:20px;height:20px;border-radius:50%;object-fit:cover}",
      "#lc-call-agent{display:flex;align-items:center;gap:4px;font-size:12px}"
    ].join("");
    var tag = el("style", {}, css);
    document.head.appendChild(tag);
  }

  function build() {
    style();
    root = el("div", {id: "lc-root"});
    var panel = el("div", {id: "lc-panel", role: "dialog", "aria-label": t.title});
    var head = el("div", {id: "lc-head"});
    head.appendChild(el("span", {}, t.title));
    var end = el("button", {id: "lc-end", type: "button"}, t.end);
    end.addEventListener("click", function () { send({type: "close"}); });
    head.appendChild(end);
    panel.appendChild(head);
    if (config.calls) { panel.appendChild(callBar()); }
    var list = el("div", {id: "lc-messages", "aria-live": "polite"});
    panel.appendChild(list);
    var error = el("div", {id: "lc-error"});
    panel.appendChild(error);
    var form = el("form", {id: "lc-form"});
    (config.form || []).forEach(function (f) {
      var label = el("label", {}, f.label + (f.required ? " *" : ""));
      var input = el("input", {name: f.field, type: f.field === "email" ? "email" :
        (f.field === "phone" ? "tel" : "text"), maxlength: "200"});
      if (f.required) { input.required = true; }
      if (saved.form && saved.form[f.field]) { input.value = saved.form[f.field]; }
      label.appendChild(input);
      form.appendChild(label);
    });
    form.appendChild(el("button", {type: "submit", id: "lc-start"}, t.start));
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var values = {};
      Array.prototype.forEach.call(form.querySelectorAll("input"), function (i) {
        values[i.name] = i.value;
      });
      saved.form = values;
      save();
      send({type: "form", form: values});
    });
    panel.appendChild(form);
    var compose = el("form", {id: "lc-compose"});
    var input = el("input", {id: "lc-input", maxlength: String(config.max_text),
      placeholder: t.placeholder, autocomplete: "off"});
    compose.appendChild(input);
    var file = null;
    if (config.images) {
      file = el("input", {id: "lc-file", type: "file", accept: ".png,.jpg,.jpeg",
        title: t.image});
      file.style.width = "90px";
      file.addEventListener("change", function () {
        var f = file.files && file.files[0];
        file.value = "";
        if (!f) { return; }
        if (!/\.(png|jpe?g)$/i.test(f.name)) { showError("Only .png, .jpg and .jpeg"); return; }
        if (f.size > config.max_image) { showError("An image is at most 10 MB"); return; }
        f.arrayBuffer().then(function (buf) { if (ws) { ws.send(buf); } });
      });
      compose.appendChild(file);
    }
    compose.appendChild(el("button", {type: "submit", id: "lc-send"}, t.send));
    compose.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var text = input.value;
      if (!text.trim()) { return; }
      seq += 1;
      send({type: "message", text: text, id: "c" + seq});
      input.value = "";
    });
    panel.appendChild(compose);
    var bubble = el("button", {id: "lc-bubble", type: "button", "aria-label": t.title});
    var NS = "http://www.w3.org/2000/svg";
    var icon = document.createElementNS(NS, "svg");
    icon.setAttribute("viewBox", "0 0 24 24");
    icon.setAttribute("width", "28");
    icon.setAttribute("height", "28");
    var shape = document.createElementNS(NS, "path");
    shape.setAttribute("fill", "currentColor");
    shape.setAttribute("d", "M4 4h16a2 2 0 0 1 2 2v9a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 " +
      "1-2-2V6a2 2 0 0 1 2-2z");
    icon.appendChild(shape);
    bubble.appendChild(icon);
    bubble.addEventListener("click", function () {
      opened = !panel.classList.contains("lc-open");
      panel.classList.toggle("lc-open", opened);
      if (opened) { send({type: "open"}); }
    });
    root.appendChild(panel);
    root.appendChild(bubble);
    document.body.appendChild(root);
    els.panel = panel;  // (the call bar's elements are in els already)
    els.list = list;
    els.form = form;
    els.compose = compose;
    els.error = error;
    formState();
  }

  // --- calls (consultation mode "Chat and call": softswitch/webrtc) -----------------------
  // The call button shows only on a secure page (getUserMedia needs one); elsewhere the bar
  // says that calls work only over HTTPS.
  function callBar() {
    var bar = el("div", {id: "lc-call"});
    if (!window.isSecureContext || !navigator.mediaDevices ||
        !window.RTCPeerConnection) {
      bar.appendChild(el("span", {id: "lc-call-note"}, t.httpsOnly));
      return bar;
    }
    var state = el("span", {id: "lc-call-state", "data-state": "idle"}, "");
    var call = el("button", {id: "lc-call-button", type: "button"}, t.call);
    var hangup = el("button", {id: "lc-hangup", type: "button"}, t.hangup);
    hangup.style.display = "none";
    var accept = el("button", {id: "lc-accept", type: "button"}, t.accept);
    var decline = el("button", {id: "lc-decline", type: "button"}, t.decline);
    accept.style.display = "none";
    decline.style.display = "none";
    call.addEventListener("click", startCall);
    accept.addEventListener("click", acceptCall);
    decline.addEventListener("click", function () {
      send({type: "decline"});
      endCall("declined");
    });
    hangup.addEventListener("click", function () {
      send({type: "hangup"});
      endCall("hung_up");
    });
    var audio = el("audio", {id: "lc-remote-audio", autoplay: ""});
    bar.appendChild(call);
    bar.appendChild(accept);
    bar.appendChild(decline);
    bar.appendChild(hangup);
    bar.appendChild(state);
    var agent = el("span", {id: "lc-call-agent"});
    bar.appendChild(agent);
    bar.appendChild(audio);
    els.callAgent = agent;
    els.callButton = call;
    els.hangup = hangup;
    els.accept = accept;
    els.decline = decline;
    els.callState = state;
    els.audio = audio;
    return bar;
  }

  function setCall(state) {
    callState = state;
    var labels = {idle: "", calling: t.calling, ringing: t.ringing,
                  connected: t.connected, ended: t.callEnded, incoming: t.incoming,
                  connecting: t.connecting};
    els.callState.textContent = labels[state] || "";
    els.callState.setAttribute("data-state", state);
    var live = state === "calling" || state === "ringing" || state === "connected" ||
      state === "connecting";
    var ringing = state === "incoming";
    els.callButton.style.display = live || ringing ? "none" : "";
    els.hangup.style.display = live ? "" : "none";
    els.accept.style.display = ringing ? "" : "none";
    els.decline.style.display = ringing ? "" : "none";
  }

  function startCall() {
    if (callState !== "idle" && callState !== "ended") { return; }
    setCall("calling");
    offer("call");
  }

  // an agent's call: this tab takes it (its offer, as for the visitor's own calls)
  function acceptCall() {
    if (callState !== "incoming") { return; }
    setCall("connecting");
    offer("accept");
  }

  function offer(kind) {
    showError("");
    navigator.mediaDevices.getUserMedia({audio: true}).then(function (stream) {
      mic = stream;
      pc = new RTCPeerConnection({iceServers: []});
      stream.getTracks().forEach(function (tr) { pc.addTrack(tr, stream); });
      pc.ontrack = function (ev) { els.audio.srcObject = ev.streams[0] ||
        new MediaStream([ev.track]); };
      return pc.createOffer().then(function (offer) {
        return pc.setLocalDescription(offer);
      }).then(function () {
        return new Promise(function (resolve) {  // non-trickle: all candidates in the offer
          if (pc.iceGatheringState === "complete") { resolve(); return; }
          pc.addEventListener("icegatheringstatechange", function () {
            if (pc.iceGatheringState === "complete") { resolve(); }
          });
        });
      }).then(function () {
        send({type: kind, sdp: pc.localDescription.sdp});
      });
    }).catch(function () {
      endCall(null);
      showError(t.noMic);
    });
  }

  function endCall(reason) {
    if (pc) { pc.close(); pc = null; }
    if (mic) { mic.getTracks().forEach(function (tr) { tr.stop(); }); mic = null; }
    if (els.audio) { els.audio.srcObject = null; }
    setCall(reason === null ? "idle" : "ended");
  }

  // "show agent info": the name and avatar of the agent behind a message or a call
  function who(agent) {
    var node = el("span", {"class": "lc-who"});
    node.appendChild(el("img", {"class": "lc-avatar", src: new URL(agent.avatar, src).href,
      alt: ""}));
    node.appendChild(el("span", {"class": "lc-name"}, agent.name));
    return node;
  }

  function onCall(frame) {
    if (!els.callState) { return; }
    if (frame.state === "ended") {
      els.callAgent.textContent = "";
    } else if (frame.agent) {
      els.callAgent.textContent = "";
      els.callAgent.appendChild(who(frame.agent));
    }
    if (frame.sdp && pc) {  // the switch's answer to this tab's offer
      pc.setRemoteDescription({type: "answer", sdp: frame.sdp}).catch(function () {
        send({type: "hangup"});
        endCall("failed");
      });
    }
    if (frame.state === "incoming" && !opened) {  // an agent calls: show the widget
      opened = true;
      els.panel.classList.add("lc-open");
    }
    if (frame.state === "calling" || frame.state === "ringing" ||
        frame.state === "connected" || frame.state === "incoming") {
      setCall(frame.state);
    } else if (frame.state === "ended") {
      if (callState !== "ended" && callState !== "idle") { endCall(frame.reason); }
    }
  }

  function formState() {
    var done = config.form_done;
    els.form.style.display = done ? "none" : "block";
    els.compose.style.display = done ? "flex" : "none";
  }

  function showError(text) {
    els.error.textContent = text;
  }

  function show(m) {
    if (!m) { return; }
    if (m.id !== null && m.id !== undefined) {
      if (shown[m.id]) { return; }
      shown[m.id] = true;
    }
    var node = el("div", {"class": "lc-msg lc-" + m.from, "data-from": m.from});
    if (m.agent && m.from !== "visitor") { node.appendChild(who(m.agent)); }
    if (m.text) { node.appendChild(el("span", {"class": "lc-text"}, m.text)); }
    (m.media || []).forEach(function (url) {
      node.appendChild(el("img", {src: new URL(url, src).href, alt: t.image}));
    });
    els.list.appendChild(node);
    els.list.scrollTop = els.list.scrollHeight;
  }

  function send(frame) {
    if (ws && ws.readyState === 1) { ws.send(JSON.stringify(frame)); }
  }

  function onFrame(frame) {
    if (frame.type === "welcome") {
      saved.visitor = frame.visitor;
      save();
      config = frame;
      t = TEXTS[frame.language] || TEXTS.en;
      if (!welcomed) { welcomed = true; build(); } else { formState(); }
      if (frame.call && els.callState && !pc) { onCall(frame.call); }
      (frame.history || []).forEach(show);
      if (opened) { send({type: "open"}); }
      retry = 0;
    } else if (frame.type === "form_ok") {
      config.form_done = true;
      formState();
    } else if (frame.type === "ack" || frame.type === "message" || frame.type === "auto") {
      showError("");
      show(frame.message);
    } else if (frame.type === "closed") {
      show({id: null, from: "system", text: t.ended, media: []});
    } else if (frame.type === "call") {
      onCall(frame);
    } else if (frame.type === "error") {
      if (frame.code === "form_required") { config.form_done = false; formState(); }
      if (/^(call|bad_offer|calls_off|no_session|no_call)/.test(frame.code) &&
          (callState === "calling" || callState === "connecting")) {
        endCall(null);
      }
      showError(frame.message);
    }
  }

  function connect() {
    ws = new WebSocket(wsUrl);
    ws.binaryType = "arraybuffer";
    ws.onopen = function () {
      send({type: "hello", visitor: saved.visitor || null, form: saved.form || null});
    };
    ws.onmessage = function (ev) {
      try { onFrame(JSON.parse(ev.data)); } catch (e) { /* not ours */ }
    };
    ws.onclose = function () {
      ws = null;
      if (!welcomed) { return; } // refused (wrong domain): the widget never shows
      retry = Math.min(retry + 1, 6);
      setTimeout(connect, 500 * Math.pow(2, retry));
    };
  }

  if (document.body) { connect(); } else {
    document.addEventListener("DOMContentLoaded", connect);
  }
})();
