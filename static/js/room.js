// The live meeting room: one WebSocket, every frame as in docs/protocol.md.
//
// The database is the source of truth, so this page keeps the highest log `seq` it has shown,
// shows log frames strictly in seq order (a frame that arrives early waits for the ones before
// it; one already shown is dropped), asks for the rest with `resume` on every (re)connect, and
// re-sends a message it never saw acknowledged (the same client_id: the server stores it once).
// Text from people is only ever set with textContent. No inline styles (CSP): state is shown
// with classes and `hidden`.

const MAX_LENGTH = 2000;
const PING_MS = 30_000;
const BACKOFF_START_MS = 500;
const BACKOFF_MAX_MS = 30_000;
const NOT_OPEN_RETRY_MS = 60_000;
const GAP_WAIT_MS = 1000; // a frame out of order may just be overtaken: wait before asking
const CONTROL_ERROR_WINDOW_MS = 5000;
const CLOSE_REFUSED = 4403;
const CLOSE_ENDED = 4000;
// Refusals on connect after which trying again cannot help. not_open is retried in a minute;
// after any other (too_many_connections: close a window first) the page offers "Try again".
const FINAL_REFUSALS = new Set([
  "not_found", "cancelled", "ended", "removed", "locked", "no_rsvp", "full", "suspended",
]);
// Errors after which the server may close the socket (4403). They are not always about this
// person ("no such message", "that person was removed"), so the page does not give up on
// them: it reconnects, and the server's answer to the new socket says whether it may be here.
const CLOSING_ERRORS = new Set(["removed", "ended", "not_found", "suspended"]);
// Errors about what was written: shown next to the composer.
const COMPOSER_ERRORS = new Set([
  "rate_limited", "muted", "slow_mode", "crosstalk", "message_too_long", "empty_message", "closed",
  "timed_out", "watched_word",
]);
// Notices after which the server closes this person's socket (4403): said, then the page stops.
const FINAL_NOTICES = new Set(["removed", "closed", "suspended", "ban"]);
const REPORT_ANSWER_MS = 15_000;
// "skip": a seq used by someone this person blocked (nothing to show, nothing to wait for).
const LOG_TYPES = new Set(["message", "deletion", "reaction", "skip"]);

const root = document.getElementById("room");
if (root && root.dataset.wsPath) startRoom(root);

function startRoom(root) {
  const $ = (id) => document.getElementById(id);
  const strings = ($("room-strings") || root).dataset;

  // --- Words -------------------------------------------------------------------------------

  function t(key, values = {}) {
    const text = strings[key] || key;
    return text.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
  }

  const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
  const clock = (iso) => {
    const date = new Date(iso);
    return Number.isNaN(date.getTime()) ? "" : timeFormat.format(date);
  };

  // `name`, when given, is the button's full accessible name; it begins with the visible
  // label, so that speech input can use what is seen.
  function makeButton(label, { name = "", className = "room__small", onClick } = {}) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = className;
    button.append(label);
    if (name) button.setAttribute("aria-label", name);
    if (onClick) button.addEventListener("click", onClick);
    return button;
  }

  // --- Elements ------------------------------------------------------------------------------

  const el = {
    status: $("room-status"),
    reconnect: $("room-reconnect"),
    you: $("room-you"),
    state: $("room-state"),
    notice: $("room-notice"),
    end: $("room-end"),
    retry: $("room-retry"),
    layout: $("room-layout"),
    floor: $("room-floor"),
    floorWho: $("room-floor-who"),
    floorTimer: $("room-floor-timer"),
    log: $("room-log"),
    empty: $("room-empty"),
    messages: $("room-messages"),
    pending: $("room-pending"),
    composer: $("room-composer"),
    input: $("room-input"),
    counter: $("room-counter"),
    send: $("room-send"),
    composerAlert: $("room-composer-alert"),
    hand: $("room-hand"),
    hands: $("room-hands"),
    handsEmpty: $("room-hands-empty"),
    presence: $("room-presence"),
    presenceCount: $("room-presence-count"),
    muteForm: $("room-mute-form"),
    removeForm: $("room-remove-form"),
    controls: $("room-controls"),
    controlsAlert: $("room-controls-alert"),
    controlsFeedback: $("room-controls-feedback"),
    open: $("room-open"),
    phaseForm: $("room-phase-form"),
    phase: $("room-phase"),
    noCrosstalk: $("room-no-crosstalk"),
    endShare: $("room-end-share"),
    lock: $("room-lock"),
    slowForm: $("room-slow-form"),
    slow: $("room-slow"),
    endStart: $("room-end-start"),
    endForm: $("room-end-form"),
    feedback: $("room-feedback"),
    reports: $("room-reports"),
    reportsText: $("room-reports-text"),
    warning: $("room-warning"),
    warningText: $("room-warning-text"),
    warningDismiss: $("room-warning-dismiss"),
    crisis: $("room-crisis"),
    crisisMessage: $("room-crisis-message"),
    crisisRegion: $("room-crisis-region"),
    crisisEmergency: $("room-crisis-emergency"),
    crisisResources: $("room-crisis-resources"),
    crisisHelp: $("room-crisis-help"),
    crisisHide: $("room-crisis-hide"),
    alertsPanel: $("room-alerts-panel"),
    alerts: $("room-alerts"),
    blockedPanel: $("room-blocked-panel"),
    blocked: $("room-blocked"),
    report: $("room-report"),
    reportForm: $("room-report-form"),
    reportWho: $("room-report-who"),
    reportQuote: $("room-report-quote"),
    reportCategories: $("room-report-categories"),
    reportAlert: $("room-report-alert"),
    reportStatus: $("room-report-status"),
  };

  // --- State ---------------------------------------------------------------------------------

  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${root.dataset.wsPath}`;
  let socket = null;
  let welcomed = false; // this socket got its welcome
  let catchingUp = false; // a resume is under way: live frames wait their turn by seq
  let refusal = null; // the error frame that refused this socket, if any
  let askAgainOnClose = false; // a closing error came: if the socket closes, reconnect to learn why
  let finished = false; // removed, ended, closed or refused for good: no reconnecting
  let attempt = 0;
  let reconnectTimer = 0;
  let pingTimer = 0;
  let gapTimer = 0;
  let knownSeq = 0; // the highest seq the server has told of (an ack, a frame that came early)
  let muteTimer = 0;
  let timerInterval = 0; // the sharer's countdown
  let lastControlAt = 0;

  let me = null; // welcome.you
  let facilitator = root.dataset.facilitator === "true";
  let reactionNames = {};
  let roomState = null;
  let people = [];
  let queue = [];
  let lastSeq = 0;
  const early = new Map(); // seq -> a log frame that came before the ones ahead of it
  const shown = new Map(); // seq -> {frame, item, reactions: Map(key -> Set(member))}
  const pending = new Map(); // client_id -> {frame, item, acked, sentOn: the socket it last went on}
  let mutedUntil = null;
  // Whether the room is open, while the server does not say it (see renderRoom): a member
  // present or anything in the log means it is.
  let seenOpen = false;
  let openRequested = false;
  // Moderation.
  let blocked = new Set(); // member ids this person blocked (welcome.hidden, then `blocked` frames)
  const handles = new Map(); // member id -> handle, from messages and presence (for the blocked list)
  let reloadWanted = false; // after an unblock: show the log again from the start
  let reportTarget = null; // {entry, opener}: the message the report dialog is about
  let reportInFlight = null; // {seq, timer}: a report sent, its answer not yet come
  let openMenu = null; // {button, list}: the message menu that is open

  // --- Connection ----------------------------------------------------------------------------

  function setStatus(text) {
    if (el.status.textContent !== text) el.status.textContent = text;
  }

  function connect() {
    clearTimeout(reconnectTimer);
    reconnectTimer = 0;
    el.reconnect.hidden = true;
    if (finished) return;
    welcomed = false;
    catchingUp = false;
    refusal = null;
    askAgainOnClose = false;
    setStatus(t("connecting"));
    const ws = new WebSocket(url);
    socket = ws;
    ws.addEventListener("message", (event) => {
      if (ws !== socket) return;
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      if (frame && typeof frame === "object") onFrame(frame);
    });
    ws.addEventListener("close", (event) => {
      if (ws === socket) onClose(event);
    });
  }

  function isOpen() {
    return socket !== null && socket.readyState === WebSocket.OPEN;
  }

  function send(frame) {
    if (!isOpen()) return false;
    socket.send(JSON.stringify(frame));
    return true;
  }

  function onClose(event) {
    socket = null;
    welcomed = false;
    catchingUp = false;
    clearInterval(pingTimer);
    clearTimeout(gapTimer);
    gapTimer = 0;
    if (finished) return;
    if (refusal && refusal.code === "not_open") {
      scheduleReconnect(NOT_OPEN_RETRY_MS, t("notOpenRetry", { message: refusal.message }));
      return;
    }
    if (refusal) {
      finish(refusal.message, { retry: !FINAL_REFUSALS.has(refusal.code) });
      return;
    }
    // Removal and the end come with a notice first (finish() has run). Closed for no reason
    // this page knows: stop. After a closing error: ask again (see CLOSING_ERRORS).
    if ((event.code === CLOSE_REFUSED || event.code === CLOSE_ENDED) && !askAgainOnClose) {
      finish(t("closed"));
      return;
    }
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_START_MS * 2 ** attempt);
    attempt += 1;
    const delay = base / 2 + Math.random() * (base / 2); // "equal jitter"
    scheduleReconnect(delay, t("offline", { seconds: Math.max(1, Math.ceil(delay / 1000)) }));
  }

  function scheduleReconnect(delay, text) {
    clearTimeout(reconnectTimer);
    setStatus(text);
    el.reconnect.hidden = false;
    reconnectTimer = setTimeout(connect, delay);
  }

  el.reconnect.addEventListener("click", connect);
  window.addEventListener("online", () => {
    if (reconnectTimer && !finished) connect();
  });

  // Removed, ended, closed, or refused: say why, stop everything, forget what was said.
  function finish(message, { retry = false } = {}) {
    finished = true;
    clearTimeout(reconnectTimer);
    clearTimeout(muteTimer);
    clearTimeout(gapTimer);
    clearInterval(pingTimer);
    clearInterval(timerInterval);
    el.reconnect.hidden = true;
    if (socket && socket.readyState <= WebSocket.OPEN) socket.close();
    socket = null;
    // Said once, in the status line (not again in an alert, which would be read twice).
    setStatus(message);
    el.status.classList.add("room__status--final");
    el.notice.textContent = "";
    el.notice.classList.remove("room__notice--muted");
    mutedUntil = null;
    for (const control of root.querySelectorAll("button, input, select, textarea")) {
      if (control !== el.retry) control.disabled = true;
    }
    // Members cannot read a room once it is closed to them: neither can this page.
    el.messages.replaceChildren();
    el.pending.replaceChildren();
    shown.clear();
    pending.clear();
    early.clear();
    lastSeq = 0; // should this page come back (Try again), it shows the room from the start
    knownSeq = 0;
    el.layout.hidden = true;
    closeMenu();
    if (el.report.open) el.report.close();
    clearReportInFlight();
    el.alerts.replaceChildren();
    el.alertsPanel.hidden = true;
    el.you.hidden = true;
    el.state.hidden = true;
    el.end.hidden = false;
    el.retry.hidden = !retry;
  }

  el.retry.addEventListener("click", () => {
    finished = false;
    el.end.hidden = true;
    el.status.classList.remove("room__status--final");
    for (const control of root.querySelectorAll("button, input, select, textarea")) control.disabled = false;
    attempt = 0;
    connect();
  });

  // --- Frames ------------------------------------------------------------------------------

  function onFrame(frame) {
    if (LOG_TYPES.has(frame.type)) {
      receiveLog(frame);
      return;
    }
    switch (frame.type) {
      case "welcome":
        onWelcome(frame);
        break;
      case "caught_up":
        onCaughtUp(frame);
        break;
      case "ack":
        onAck(frame);
        break;
      case "room":
        renderRoom(frame);
        break;
      case "presence":
        renderPresence(frame);
        break;
      case "hands":
        renderHands(frame);
        break;
      case "notice":
        onNotice(frame);
        break;
      case "error":
        onError(frame);
        break;
      case "reported":
        onReported(frame);
        break;
      case "blocked":
        onBlocked(frame);
        break;
      case "reports":
        renderReports(frame.open);
        break;
      case "alert":
        onAlert(frame);
        break;
      default:
        break; // pong, and anything newer than this page
    }
  }

  function onWelcome(frame) {
    welcomed = true;
    attempt = 0;
    me = frame.you;
    facilitator = Boolean(me.facilitator);
    reactionNames = frame.reactions || {};
    el.you.textContent = t("youAre", { handle: me.handle });
    el.you.hidden = false;
    el.controls.hidden = !facilitator;
    el.layout.hidden = false;
    if (!facilitator) el.alertsPanel.hidden = true;
    if (facilitator && "reports_open" in frame) renderReports(frame.reports_open);
    else el.reports.hidden = true;
    blocked = new Set(Array.isArray(frame.hidden) ? frame.hidden : []);
    for (const entry of shown.values()) entry.item.hidden = blocked.has(entry.frame.member);
    renderBlocked();
    renderRoom(frame.room);
    renderPresence(frame.presence);
    renderHands(frame.hands);
    if (me.muted_until) setMuted(me.muted_until, me.mute_reason ? t("reasonIs", { reason: me.mute_reason }) : "");
    else clearMuted("");
    // Always catch up, from wherever this page is (0 the first time).
    catchingUp = true;
    setStatus(t("catchingUp"));
    send({ type: "resume", last_seq: lastSeq });
    clearInterval(pingTimer);
    pingTimer = setInterval(() => send({ type: "ping" }), PING_MS);
  }

  function onCaughtUp(frame) {
    skipTo(frame.last_seq);
    if (frame.more) {
      send({ type: "resume", last_seq: lastSeq });
      return;
    }
    catchingUp = false;
    el.messages.setAttribute("aria-live", "polite");
    if (reloadWanted) {
      reloadWanted = false;
      reloadLog();
      return;
    }
    setStatus(t("caughtUp"));
    // Messages not acknowledged and not sent on this socket go (again), with the same
    // client_id: the server stores each once, whatever happened to an earlier try.
    for (const entry of pending.values()) {
      if (!entry.acked && entry.sentOn !== socket && send(entry.frame)) entry.sentOn = socket;
    }
    checkGapSoon();
  }

  // The server told of a seq this page has not shown: if it does not come soon (a broadcast
  // lost, or one overtaken by another), ask for what is missing.
  function expectSeq(seq) {
    knownSeq = Math.max(knownSeq, seq);
    checkGapSoon();
  }

  function checkGapSoon() {
    if (gapTimer || knownSeq <= lastSeq) return;
    gapTimer = setTimeout(() => {
      gapTimer = 0;
      if (knownSeq > lastSeq && welcomed && !catchingUp) {
        catchingUp = true;
        setStatus(t("catchingUp"));
        send({ type: "resume", last_seq: lastSeq });
      }
    }, GAP_WAIT_MS);
  }

  // The catch-up has sent everything up to `seq` that is for this person: the entries that did
  // not come are of people they blocked (the server never sends those), so they are passed over
  // rather than waited for.
  function skipTo(seq) {
    if (!Number.isInteger(seq)) return;
    while (lastSeq < seq) {
      const next = early.get(lastSeq + 1);
      early.delete(lastSeq + 1);
      if (next) applyLog(next);
      lastSeq += 1;
    }
    applyEarly();
  }

  function applyEarly() {
    while (early.has(lastSeq + 1)) {
      const next = early.get(lastSeq + 1);
      early.delete(lastSeq + 1);
      applyLog(next);
      lastSeq += 1;
    }
    for (const seen of early.keys()) if (seen <= lastSeq) early.delete(seen);
  }

  // After an unblock, the messages written meanwhile were never sent here: read the log again
  // from the start (quietly: the screen reader is not read the whole conversation again).
  function reloadLog() {
    if (catchingUp) {
      reloadWanted = true;
      return;
    }
    if (el.messages.contains(document.activeElement)) el.log.focus();
    el.messages.replaceChildren();
    shown.clear();
    early.clear();
    lastSeq = 0;
    knownSeq = 0;
    el.empty.hidden = false;
    if (!welcomed) return; // the next welcome resumes from 0
    catchingUp = true;
    el.messages.setAttribute("aria-live", "off");
    setStatus(t("catchingUp"));
    send({ type: "resume", last_seq: 0 });
  }

  function receiveLog(frame) {
    const seq = frame.seq;
    if (!Number.isInteger(seq) || seq <= lastSeq) return; // shown already
    seenOpen = true;
    if (seq > lastSeq + 1) {
      early.set(seq, frame);
      expectSeq(seq);
      return;
    }
    applyLog(frame);
    lastSeq = seq;
    applyEarly();
  }

  function applyLog(frame) {
    if (frame.type === "message") addMessage(frame);
    else if (frame.type === "deletion") markDeleted(frame.target);
    else if (frame.type === "reaction") applyReaction(frame);
  }

  function onAck(frame) {
    const entry = pending.get(frame.client_id);
    if (!entry) return;
    entry.acked = true;
    el.composerAlert.textContent = "";
    if (Number.isInteger(frame.seq)) expectSeq(frame.seq); // the message itself should follow
  }

  function onNotice(frame) {
    if (frame.kind === "muted") setMuted(frame.until, frame.message);
    else if (frame.kind === "unmuted") clearMuted(frame.message || t("unmuted"));
    // The notice says until when, in the person's own zone: only what they can still do is added.
    else if (frame.kind === "timeout") {
      setMuted(frame.until, frame.message, frame.message ? "canStillRead" : "timedOutUntil");
    }
    else if (frame.kind === "warning") showWarning(frame.message);
    else if (frame.kind === "crisis") showCrisis(frame);
    // "ended" goes to the whole room in one language: show it in this page's own.
    else if (frame.kind === "ended") finish(t("ended"));
    // Removed, suspended, banned, or the room's time is over: the socket closes next.
    else if (FINAL_NOTICES.has(frame.kind)) finish(frame.message || t("closed"));
  }

  function onError(frame) {
    if (!welcomed) {
      // Refused on connect: the server closes the socket next, and onClose decides (not_open
      // is tried again in a minute; every other refusal ends here).
      refusal = frame;
      setStatus(frame.message);
      return;
    }
    if (CLOSING_ERRORS.has(frame.code)) askAgainOnClose = true;
    if (frame.client_id && pending.has(frame.client_id)) refuseMessage(frame.client_id);
    if (frame.code === "muted" && frame.until) setMuted(frame.until, "");
    if (frame.code === "timed_out" && frame.until) setMuted(frame.until, "", "timedOutUntil");
    if (frame.code === "already_open") {
      seenOpen = true;
      el.open.hidden = true;
    }
    if (frame.code === "closed" && facilitator && !(roomState && "open" in roomState)) el.open.hidden = false;
    // An error while a report is on its way is the report's (messages' errors have a client_id).
    const aboutReport = reportInFlight && !frame.client_id;
    if (aboutReport) clearReportInFlight();
    const aboutControls = facilitator && Date.now() - lastControlAt < CONTROL_ERROR_WINDOW_MS;
    if (aboutReport && el.report.open) {
      el.reportAlert.textContent = frame.message;
    } else if (COMPOSER_ERRORS.has(frame.code) || frame.client_id || aboutReport || !aboutControls) {
      el.composerAlert.textContent = frame.message;
    } else {
      el.controlsFeedback.textContent = "";
      el.controlsAlert.textContent = frame.message;
    }
  }

  // --- Messages ------------------------------------------------------------------------------

  function addMessage(frame) {
    const item = document.createElement("li");
    item.className = "msg";
    item.id = `msg-${frame.seq}`;
    item.dataset.seq = String(frame.seq);
    const mine = me && frame.member === me.member;
    if (mine) item.classList.add("msg--mine");
    if (frame.member && frame.handle) handles.set(frame.member, frame.handle);
    // The server stops sending a blocked person's messages; one on its way meanwhile is hidden.
    if (blocked.has(frame.member)) item.hidden = true;

    const meta = document.createElement("p");
    meta.className = "msg__meta";
    const handle = document.createElement("span");
    handle.className = "msg__handle";
    handle.textContent = frame.handle;
    meta.append(handle);
    if (mine) meta.append(" ", t("you"));
    const time = document.createElement("time");
    time.className = "msg__time";
    time.dateTime = frame.at;
    time.textContent = clock(frame.at);
    meta.append(" ", time);

    const body = document.createElement("p");
    body.className = "msg__body";
    const tools = document.createElement("div");
    tools.className = "msg__tools";
    item.append(meta, body, tools);

    const entry = { frame, item, body, tools, reactions: new Map() };
    shown.set(frame.seq, entry);
    if (frame.deleted || frame.body === null) showDeleted(entry);
    else {
      body.textContent = frame.body;
      renderTools(entry);
    }

    const atBottom = el.log.scrollHeight - el.log.scrollTop - el.log.clientHeight < 48;
    el.messages.append(item);
    el.empty.hidden = true;
    if (atBottom || mine) el.log.scrollTop = el.log.scrollHeight;

    if (mine && pending.has(frame.client_id)) {
      pending.get(frame.client_id).item.remove();
      pending.delete(frame.client_id);
    }
  }

  function renderTools(entry) {
    const { frame, tools } = entry;
    const reactions = document.createElement("div");
    reactions.className = "msg__reactions";
    reactions.setAttribute("role", "group");
    reactions.setAttribute("aria-label", t("reactions"));
    for (const [key, label] of Object.entries(reactionNames)) {
      const button = makeButton(label, { className: "room__reaction" });
      const count = document.createElement("span");
      count.className = "room__count";
      button.append(" ", count);
      button.dataset.reaction = key;
      button.addEventListener("click", () => {
        const on = button.getAttribute("aria-pressed") !== "true";
        send({ type: "react", seq: frame.seq, reaction: key, on });
      });
      reactions.append(button);
    }
    tools.replaceChildren(reactions);
    if (me && (facilitator || frame.member === me.member)) {
      tools.append(
        makeButton(t("delete"), {
          name: t("deleteMessage", { handle: frame.handle, time: clock(frame.at) }),
          className: "room__small button--secondary",
          onClick: () => send({ type: "delete", seq: frame.seq }),
        }),
      );
    }
    if (me && frame.member !== me.member) tools.append(makeMenu(entry));
    updateReactions(entry);
  }

  // --- Moderation: the message menu, reports, blocks ----------------------------------------

  // A disclosure: a button that shows a short list of actions for one message. Escape, or
  // leaving it, closes the list (Escape puts the focus back on the button).
  function makeMenu(entry) {
    const { frame } = entry;
    const wrap = document.createElement("div");
    wrap.className = "msg__more";
    const list = document.createElement("ul");
    list.className = "msg__menu";
    list.id = `msg-${frame.seq}-menu`;
    list.hidden = true;
    const button = makeButton(t("more"), {
      name: t("moreFor", { seq: frame.seq, handle: frame.handle }),
      className: "room__small button--secondary msg__more-button",
      onClick: (event) => {
        if (openMenu && openMenu.button === button) {
          closeMenu();
          return;
        }
        closeMenu();
        const name = handles.get(frame.member) || frame.handle;
        block.textContent = t(blocked.has(frame.member) ? "unblockPerson" : "blockPerson", { handle: name });
        list.hidden = false;
        button.setAttribute("aria-expanded", "true");
        openMenu = { button, list };
        if (event.detail === 0) report.focus(); // from the keyboard: into the list
      },
    });
    button.setAttribute("aria-expanded", "false");
    button.setAttribute("aria-controls", list.id);
    const report = makeButton(t("reportOption"), {
      className: "room__small msg__menu-item",
      onClick: () => {
        closeMenu();
        openReport(entry, button);
      },
    });
    const block = makeButton("", {
      className: "room__small msg__menu-item",
      onClick: () => {
        closeMenu();
        button.focus(); // until the answer hides the message (the focus then goes to the log)
        send({ type: "block", member: frame.member, on: !blocked.has(frame.member) });
      },
    });
    for (const option of [report, block]) {
      const item = document.createElement("li");
      item.append(option);
      list.append(item);
    }
    wrap.append(button, list);
    wrap.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && !list.hidden) {
        event.preventDefault();
        closeMenu();
        button.focus();
      }
    });
    wrap.addEventListener("focusout", (event) => {
      if (!list.hidden && !wrap.contains(event.relatedTarget)) closeMenu();
    });
    return wrap;
  }

  function closeMenu() {
    if (!openMenu) return;
    openMenu.list.hidden = true;
    openMenu.button.setAttribute("aria-expanded", "false");
    openMenu = null;
  }

  document.addEventListener("click", (event) => {
    if (openMenu && !openMenu.list.parentElement.contains(event.target)) closeMenu();
  });

  function openReport(entry, opener) {
    reportTarget = { entry, opener };
    el.reportForm.reset();
    el.reportAlert.textContent = "";
    el.reportStatus.textContent = "";
    el.reportCategories.removeAttribute("aria-invalid");
    el.reportWho.textContent = t("reportAbout", { handle: entry.frame.handle, time: clock(entry.frame.at) });
    el.reportQuote.textContent = entry.frame.body || "";
    el.report.showModal();
    el.reportForm.elements.category[0].focus();
  }

  function clearReportInFlight() {
    el.reportStatus.textContent = "";
    if (!reportInFlight) return;
    clearTimeout(reportInFlight.timer);
    reportInFlight = null;
  }

  el.reportForm.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!reportTarget || reportInFlight) return;
    const form = el.reportForm.elements;
    if (!form.category.value) {
      el.reportCategories.setAttribute("aria-invalid", "true");
      el.reportAlert.textContent = t("reportChoose");
      form.category[0].focus();
      return;
    }
    el.reportCategories.removeAttribute("aria-invalid");
    const seq = reportTarget.entry.frame.seq;
    const frame = {
      type: "report",
      seq,
      category: form.category.value,
      details: form.details.value.trim(),
      wish: form.wish.value || "inform",
    };
    if (!welcomed || catchingUp || !send(frame)) {
      el.reportAlert.textContent = t("reportOffline");
      return;
    }
    el.reportAlert.textContent = "";
    el.reportStatus.textContent = t("reportSending");
    reportInFlight = {
      seq,
      timer: setTimeout(() => {
        clearReportInFlight();
        if (el.report.open) el.reportAlert.textContent = t("reportNoAnswer");
      }, REPORT_ANSWER_MS),
    };
  });

  el.reportForm.querySelector("[data-cancel]").addEventListener("click", () => el.report.close());
  el.report.addEventListener("close", () => {
    const opener = reportTarget && reportTarget.opener;
    reportTarget = null;
    if (finished) return;
    if (opener && opener.isConnected && !opener.closest("[hidden]")) opener.focus();
    else el.log.focus();
  });

  function onReported(frame) {
    clearReportInFlight();
    el.feedback.textContent = frame.message || "";
    if (el.report.open && reportTarget && reportTarget.entry.frame.seq === frame.seq) el.report.close();
  }

  function onBlocked(frame) {
    const member = frame.member;
    const name = handles.get(member) || t("someoneBlocked");
    const focusInBlockedList = el.blocked.contains(document.activeElement);
    if (frame.on) blocked.add(member);
    else blocked.delete(member);
    let focusLost = false;
    for (const entry of shown.values()) {
      if (entry.frame.member !== member) continue;
      if (frame.on && entry.item.contains(document.activeElement)) focusLost = true;
      entry.item.hidden = Boolean(frame.on);
    }
    renderBlocked();
    el.feedback.textContent = t(frame.on ? "blocked" : "unblocked", { handle: name });
    if (focusLost) el.log.focus();
    if (focusInBlockedList && !el.blocked.contains(document.activeElement)) {
      const next = el.blocked.querySelector("button");
      if (next) next.focus();
      else el.log.focus();
    }
    if (!frame.on) reloadLog(); // what they wrote while blocked
  }

  // "Blocked people", in the side panel: each with Unblock.
  function renderBlocked() {
    const list = [...blocked].map((member) => ({ member, handle: handles.get(member) || "" }));
    el.blockedPanel.hidden = list.length === 0;
    syncList(el.blocked, list, (person) => person.member, (person) => {
      const item = document.createElement("li");
      const name = document.createElement("span");
      name.className = "room__person";
      name.textContent = person.handle || t("someoneBlocked");
      item.append(
        name,
        makeButton(t("unblock"), {
          name: t("unblockPerson", { handle: person.handle || t("someoneBlocked") }),
          className: "room__small button--secondary",
          onClick: () => send({ type: "block", member: person.member, on: false }),
        }),
      );
      return item;
    });
  }

  // --- Moderation: what the facilitators and the person are told ----------------------------

  function renderReports(count) {
    const open = Number.isInteger(count) ? count : 0;
    el.reports.hidden = false;
    el.reportsText.textContent = t("reports", { count: open });
    el.reports.classList.toggle("room__reports--open", open > 0);
  }

  // A live region shown and filled at the same moment may go unread: show it, then fill it.
  function reveal(container, fill) {
    if (!container.hidden) {
      fill();
      return;
    }
    container.hidden = false;
    setTimeout(fill, 50);
  }

  function onAlert(frame) {
    if (!facilitator || finished) return;
    const item = document.createElement("div");
    item.className = "room__alert-item";
    const text = document.createElement("p");
    text.textContent = frame.message || "";
    item.append(text);
    const actions = document.createElement("p");
    actions.className = "room__alert-actions";
    if (Number.isInteger(frame.seq)) {
      const go = document.createElement("a");
      go.href = `#msg-${frame.seq}`;
      go.textContent = t("goToMessage");
      go.addEventListener("click", (event) => {
        const target = document.getElementById(`msg-${frame.seq}`);
        if (!target) return;
        event.preventDefault();
        target.tabIndex = -1;
        target.focus();
      });
      actions.append(go, " ");
    }
    actions.append(
      makeButton(t("dismiss"), {
        name: t("dismissAlert", { handle: frame.handle || "" }),
        className: "room__small button--secondary",
        onClick: () => {
          item.remove();
          const next = el.alerts.querySelector("button");
          if (next) next.focus();
          else {
            el.alertsPanel.hidden = true;
            el.log.focus();
          }
        },
      }),
    );
    item.append(actions);
    reveal(el.alertsPanel, () => el.alerts.append(item));
  }

  function showWarning(message) {
    el.warningText.textContent = "";
    reveal(el.warning, () => {
      el.warningText.textContent = message || "";
    });
  }

  // Back to writing, or to reading when writing is paused.
  function focusComposer() {
    if (el.input.disabled) el.log.focus();
    else el.input.focus();
  }

  el.warningDismiss.addEventListener("click", () => {
    el.warning.hidden = true;
    el.warningText.textContent = "";
    focusComposer();
  });

  function newTabLink(href, label) {
    const link = document.createElement("a");
    link.href = href;
    link.target = "_blank";
    link.rel = "noopener noreferrer";
    const hint = document.createElement("span");
    hint.className = "visually-hidden";
    hint.textContent = ` ${t("newTab")}`;
    link.append(label, hint);
    return link;
  }

  // Only for this person: their region's emergency line and helplines, and where to find more.
  function showCrisis(frame) {
    el.crisisRegion.textContent = frame.region ? t("inAnEmergency", { region: frame.region }) : "";
    el.crisisEmergency.textContent = frame.emergency || "";
    const items = (Array.isArray(frame.resources) ? frame.resources : []).map((resource) => {
      const item = document.createElement("li");
      const name = document.createElement("h3");
      const isWeb = typeof resource.url === "string" && /^https?:\/\//.test(resource.url);
      name.append(isWeb ? newTabLink(resource.url, resource.name || resource.url) : resource.name || "");
      item.append(name);
      if (resource.contact) {
        const contact = document.createElement("p");
        contact.className = "contact";
        contact.textContent = resource.contact;
        item.append(contact);
      }
      if (resource.description) {
        const description = document.createElement("p");
        description.textContent = resource.description;
        item.append(description);
      }
      return item;
    });
    el.crisisResources.replaceChildren(...items);
    if (typeof frame.help_url === "string" && frame.help_url.startsWith("/")) el.crisisHelp.href = frame.help_url;
    el.crisisMessage.textContent = "";
    reveal(el.crisis, () => {
      el.crisisMessage.textContent = frame.message || "";
    });
    el.crisis.scrollIntoView({ block: "nearest" });
  }

  el.crisisHide.addEventListener("click", () => {
    el.crisis.hidden = true;
    focusComposer();
  });

  function updateReactions(entry) {
    for (const button of entry.tools.querySelectorAll("[data-reaction]")) {
      const members = entry.reactions.get(button.dataset.reaction) || new Set();
      button.setAttribute("aria-pressed", String(Boolean(me && members.has(me.member))));
      button.querySelector(".room__count").textContent = members.size ? String(members.size) : "";
    }
  }

  function applyReaction(frame) {
    const entry = shown.get(frame.target);
    if (!entry) return;
    const members = entry.reactions.get(frame.reaction) || new Set();
    if (frame.on) members.add(frame.member);
    else members.delete(frame.member);
    entry.reactions.set(frame.reaction, members);
    updateReactions(entry);
  }

  function showDeleted(entry) {
    entry.item.classList.add("msg--deleted");
    entry.body.textContent = t("deleted");
    const focused = entry.tools.contains(document.activeElement);
    entry.tools.replaceChildren();
    entry.reactions.clear();
    if (focused) el.input.focus();
  }

  function markDeleted(target) {
    const entry = shown.get(target);
    if (entry) showDeleted(entry);
  }

  // --- Composer ------------------------------------------------------------------------------

  function makeClientId() {
    if (crypto.randomUUID) return crypto.randomUUID();
    const bytes = crypto.getRandomValues(new Uint8Array(16)); // plain-http development hosts
    return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
  }

  function updateCounter() {
    const count = el.input.value.length;
    el.counter.textContent = `${count} / ${MAX_LENGTH}`;
    el.counter.classList.toggle("room__counter--near", count > MAX_LENGTH * 0.9);
  }

  function submitMessage() {
    if (finished || mutedUntil) return;
    const body = el.input.value;
    if (!body.trim()) {
      el.composerAlert.textContent = t("emptyMessage");
      return;
    }
    if (body.length > MAX_LENGTH) {
      el.composerAlert.textContent = t("tooLong");
      return;
    }
    el.composerAlert.textContent = "";
    const frame = { type: "send", client_id: makeClientId(), body };
    const item = document.createElement("li");
    item.className = "msg msg--mine msg--pending";
    const meta = document.createElement("p");
    meta.className = "msg__meta";
    meta.textContent = t("sending");
    const text = document.createElement("p");
    text.className = "msg__body";
    text.textContent = body;
    item.append(meta, text);
    el.pending.append(item);
    el.log.scrollTop = el.log.scrollHeight;
    const entry = { frame, item, acked: false, sentOn: null };
    pending.set(frame.client_id, entry);
    el.input.value = "";
    updateCounter();
    // While offline or catching up it waits, and goes after the resume.
    if (welcomed && !catchingUp && send(frame)) entry.sentOn = socket;
  }

  // A refused message was not stored: give the words back rather than lose them.
  function refuseMessage(clientId) {
    const entry = pending.get(clientId);
    pending.delete(clientId);
    entry.item.remove();
    if (!el.input.value.trim()) {
      el.input.value = entry.frame.body;
      updateCounter();
    }
  }

  el.composer.addEventListener("submit", (event) => {
    event.preventDefault();
    submitMessage();
  });
  el.input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submitMessage();
    }
  });
  el.input.addEventListener("input", updateCounter);

  function setComposerEnabled(enabled) {
    el.input.disabled = !enabled;
    el.send.disabled = !enabled;
  }

  // Muted in this room, or timed out in the group (lineKey "timedOutUntil"): no writing until then.
  function setMuted(untilIso, message, lineKey = "mutedUntil") {
    const until = new Date(untilIso);
    if (Number.isNaN(until.getTime()) || until <= new Date()) return;
    mutedUntil = until;
    setComposerEnabled(false);
    const line = t(lineKey, { time: clock(untilIso) });
    el.notice.textContent = message ? `${message} ${line}` : line;
    el.notice.classList.add("room__notice--muted");
    clearTimeout(muteTimer);
    muteTimer = setTimeout(() => clearMuted(t("unmuted")), until - new Date() + 500);
  }

  function clearMuted(message) {
    mutedUntil = null;
    clearTimeout(muteTimer);
    if (finished) return;
    setComposerEnabled(true);
    el.notice.classList.remove("room__notice--muted");
    el.notice.textContent = message;
  }

  // --- The room's state ----------------------------------------------------------------------

  function renderRoom(state) {
    if (!state) return;
    roomState = state;
    const phaseKey = `phase${String(state.phase).replace(/(^|_)(\w)/g, (all, sep, letter) => letter.toUpperCase())}`;
    const parts = [t("phase", { phase: strings[phaseKey] || state.phase })];
    if (state.phase === "shares" && state.no_crosstalk) parts.push(t("noCrosstalk"));
    if (state.locked) parts.push(t("locked"));
    if (state.slow_mode) parts.push(t("slowMode", { seconds: state.slow_mode }));
    el.state.textContent = parts.join(" · ");
    el.state.hidden = false;
    el.state.classList.toggle("room__state--crosstalk", state.phase === "shares" && Boolean(state.no_crosstalk));

    // The floor, with its countdown.
    clearInterval(timerInterval);
    if (state.sharer) {
      el.floor.hidden = false;
      const mine = me && state.sharer.member === me.member;
      el.floor.classList.toggle("room__floor--mine", Boolean(mine));
      el.floorWho.textContent = mine ? t("youHaveFloor") : t("hasFloor", { handle: state.sharer.handle });
      tick();
      if (state.share_ends_at) timerInterval = setInterval(tick, 1000);
    } else {
      el.floor.hidden = true;
      el.floorTimer.textContent = "";
    }

    // The facilitators' controls follow the room, except a field someone is changing.
    if (![el.phase, el.noCrosstalk].includes(document.activeElement)) {
      el.phase.value = state.phase;
      el.noCrosstalk.checked = Boolean(state.no_crosstalk);
    }
    if (document.activeElement !== el.slow) el.slow.value = String(state.slow_mode || 0);
    el.endShare.disabled = finished || !state.sharer;
    el.lock.textContent = state.locked ? t("unlock") : t("lock");
    updateOpenButton();
  }

  // "Open the room now", for facilitators before the room opens. The state frame does not say
  // whether the room is open yet (docs/protocol.md); when it does (`open`), that is used.
  function updateOpenButton() {
    if (!roomState) return;
    if ("open" in roomState) el.open.hidden = Boolean(roomState.open);
    else el.open.hidden = seenOpen || openRequested;
  }

  function tick() {
    const ends = roomState && roomState.share_ends_at ? new Date(roomState.share_ends_at) : null;
    if (!ends || Number.isNaN(ends.getTime())) {
      el.floorTimer.textContent = "";
      return;
    }
    const left = Math.max(0, Math.ceil((ends - Date.now()) / 1000));
    const minutes = Math.floor(left / 60);
    const seconds = String(left % 60).padStart(2, "0");
    el.floorTimer.textContent = left > 0 ? t("timeLeft", { time: `${minutes}:${seconds}` }) : t("timeUp");
    el.floorTimer.classList.toggle("room__timer--up", left === 0);
    el.floorTimer.classList.toggle("room__timer--soon", left > 0 && left <= 30);
  }

  // A list kept by key, so that a focused button in it survives an update.
  function syncList(list, items, keyOf, build) {
    const wanted = new Map(items.map((item) => [keyOf(item), item]));
    for (const child of [...list.children]) {
      if (!wanted.has(child.dataset.key)) child.remove();
    }
    const existing = new Map([...list.children].map((child) => [child.dataset.key, child]));
    items.forEach((item, index) => {
      const key = keyOf(item);
      let child = existing.get(key);
      const signature = JSON.stringify([item, facilitator, me && me.member]);
      if (!child || child.dataset.signature !== signature) {
        const fresh = build(item);
        fresh.dataset.key = key;
        fresh.dataset.signature = signature;
        if (child) {
          const hadFocus = child.contains(document.activeElement);
          child.replaceWith(fresh);
          if (hadFocus) fresh.querySelector("button")?.focus();
        }
        child = fresh;
      }
      if (list.children[index] !== child) list.insertBefore(child, list.children[index] || null);
    });
  }

  function renderPresence(frame) {
    if (!frame) return;
    people = frame.people || [];
    for (const person of people) handles.set(person.member, person.handle);
    if (blocked.size) renderBlocked();
    if (people.some((person) => !person.facilitator)) seenOpen = true; // members enter open rooms only
    updateOpenButton();
    el.presenceCount.textContent = String(frame.count ?? people.length);
    syncList(el.presence, people, (person) => person.member, (person) => {
      const item = document.createElement("li");
      const name = document.createElement("span");
      name.className = "room__person";
      name.textContent = person.handle;
      item.append(name);
      if (me && person.member === me.member) item.append(" ", t("you"));
      if (person.facilitator) {
        const badge = document.createElement("span");
        badge.className = "room__tag";
        badge.textContent = t("facilitator");
        item.append(" ", badge);
      }
      if (facilitator && me && person.member !== me.member && !person.facilitator) {
        const tools = document.createElement("span");
        tools.className = "room__person-tools";
        tools.append(
          makeButton(t("mute"), {
            name: t("mutePerson", { handle: person.handle }),
            className: "room__small button--secondary",
            onClick: (event) => openPersonForm(el.muteForm, person, event.currentTarget),
          }),
          makeButton(t("unmute"), {
            name: t("unmutePerson", { handle: person.handle }),
            className: "room__small button--secondary",
            onClick: () => {
              control({ type: "unmute", member: person.member });
              el.controlsFeedback.textContent = t("sentUnmute", { handle: person.handle });
            },
          }),
          makeButton(t("remove"), {
            name: t("removePerson", { handle: person.handle }),
            className: "room__small button--danger",
            onClick: (event) => openPersonForm(el.removeForm, person, event.currentTarget),
          }),
        );
        item.append(tools);
      }
      return item;
    });
  }

  function renderHands(frame) {
    if (!frame) return;
    queue = frame.queue || [];
    el.handsEmpty.hidden = queue.length > 0;
    syncList(el.hands, queue, (person) => person.member, (person) => {
      const item = document.createElement("li");
      const name = document.createElement("span");
      name.className = "room__person";
      name.textContent = person.handle;
      item.append(name);
      if (me && person.member === me.member) item.append(" ", t("you"));
      if (facilitator) {
        item.append(
          " ",
          makeButton(t("giveFloor"), {
            name: t("giveFloorTo", { handle: person.handle }),
            onClick: () => control({ type: "give_floor", member: person.member }),
          }),
        );
      }
      return item;
    });
    const raised = Boolean(me && queue.some((person) => person.member === me.member));
    el.hand.setAttribute("aria-pressed", String(raised));
    el.hand.textContent = raised ? t("lowerHand") : t("raiseHand");
  }

  el.hand.addEventListener("click", () => {
    send({ type: "hand", raised: el.hand.getAttribute("aria-pressed") !== "true" });
  });

  // --- Facilitator controls ------------------------------------------------------------------

  function control(frame) {
    lastControlAt = Date.now();
    el.controlsAlert.textContent = "";
    el.controlsFeedback.textContent = "";
    send(frame);
  }

  let formTarget = null; // {person, opener}

  function openPersonForm(form, person, opener) {
    for (const other of [el.muteForm, el.removeForm]) other.hidden = other !== form;
    formTarget = { person, opener };
    form.querySelector("[data-person]").textContent = person.handle;
    form.reset();
    form.hidden = false;
    form.querySelector("input").focus();
  }

  function closePersonForm(form) {
    form.hidden = true;
    const opener = formTarget && formTarget.opener;
    formTarget = null;
    if (opener && opener.isConnected) opener.focus();
    else document.getElementById("room-presence-heading").focus();
  }

  for (const form of [el.muteForm, el.removeForm, el.endForm]) {
    form.querySelector("[data-cancel]").addEventListener("click", () => {
      if (form === el.endForm) {
        form.hidden = true;
        el.endStart.hidden = false;
        el.endStart.focus();
      } else closePersonForm(form);
    });
    form.addEventListener("keydown", (event) => {
      if (event.key === "Escape") form.querySelector("[data-cancel]").click();
    });
  }

  el.muteForm.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!formTarget) return;
    const minutes = Number.parseInt(el.muteForm.elements.minutes.value, 10);
    if (!Number.isInteger(minutes) || minutes < 1 || minutes > 1440) {
      el.muteForm.elements.minutes.setAttribute("aria-invalid", "true");
      el.muteForm.elements.minutes.focus();
      return;
    }
    el.muteForm.elements.minutes.removeAttribute("aria-invalid");
    const { person } = formTarget;
    control({ type: "mute", member: person.member, minutes, reason: el.muteForm.elements.reason.value.trim() });
    el.controlsFeedback.textContent = t("sentMute", { handle: person.handle, minutes });
    closePersonForm(el.muteForm);
  });

  el.removeForm.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!formTarget) return;
    const { person } = formTarget;
    control({ type: "remove", member: person.member, reason: el.removeForm.elements.reason.value.trim() });
    el.controlsFeedback.textContent = t("sentRemove", { handle: person.handle });
    closePersonForm(el.removeForm);
  });

  el.phaseForm.addEventListener("submit", (event) => {
    event.preventDefault();
    control({ type: "phase", phase: el.phase.value, no_crosstalk: el.noCrosstalk.checked });
  });

  el.endShare.addEventListener("click", () => control({ type: "end_share" }));
  el.lock.addEventListener("click", () => control({ type: "lock", locked: !(roomState && roomState.locked) }));
  el.open.addEventListener("click", () => {
    openRequested = true;
    control({ type: "open" });
    el.open.hidden = true;
    el.phase.focus();
  });

  el.slowForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const seconds = Number.parseInt(el.slow.value, 10);
    if (!Number.isInteger(seconds) || seconds < 0 || seconds > 300) {
      el.slow.setAttribute("aria-invalid", "true");
      el.slow.focus();
      return;
    }
    el.slow.removeAttribute("aria-invalid");
    control({ type: "slow_mode", seconds });
  });

  el.endStart.addEventListener("click", () => {
    el.endStart.hidden = true;
    el.endForm.reset();
    el.endForm.hidden = false;
    el.endForm.querySelector("input").focus();
  });
  el.endForm.addEventListener("submit", (event) => {
    event.preventDefault();
    control({ type: "end", reason: el.endForm.elements.reason.value.trim() });
  });

  // --- Go ------------------------------------------------------------------------------------

  updateCounter();
  connect();
}
