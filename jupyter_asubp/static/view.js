// The live view of a process: header, output pane, input box and controls.
// Input and button presses go to the kernel as custom messages (model.send),
// which arrive even while another cell is awaiting; value syncs would not.

const BASIC_COLOURS = 16;

function element(tag, className, attributes = {}) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  return node;
}

function button(label, title, onClick) {
  const node = element("button", "asubp-button", { type: "button", title, "aria-label": title });
  node.textContent = label;
  node.addEventListener("click", onClick);
  return node;
}

// One (text, style) run becomes a span; the style is an SGR parameter string.
function styledSpan(text, style) {
  const span = document.createElement("span");
  span.textContent = text; // never HTML: what the process prints is text
  if (!style) return span;
  if (style === "in") {
    span.className = "asubp-input-echo";
    return span;
  }
  const codes = style.split(";").map(Number);
  const classes = [];
  for (let i = 0; i < codes.length; i++) {
    const code = codes[i];
    if (code === 38 || code === 48) {
      const property = code === 38 ? "color" : "backgroundColor";
      if (codes[i + 1] === 5) {
        span.style[property] = paletteColour(codes[i + 2]);
        i += 2;
      } else if (codes[i + 1] === 2) {
        span.style[property] = `rgb(${codes[i + 2]}, ${codes[i + 3]}, ${codes[i + 4]})`;
        i += 4;
      }
    } else if ((code >= 30 && code <= 37) || (code >= 90 && code <= 97)) {
      classes.push(`asubp-fg-${code >= 90 ? code - 82 : code - 30}`);
    } else if ((code >= 40 && code <= 47) || (code >= 100 && code <= 107)) {
      classes.push(`asubp-bg-${code >= 100 ? code - 92 : code - 40}`);
    } else if (code >= 1 && code <= 9) {
      classes.push(`asubp-sgr-${code}`);
    }
  }
  span.className = classes.join(" ");
  return span;
}

function lineNode(stream, runs) {
  const line = element("div", stream === "stderr" ? "asubp-line asubp-stderr" : "asubp-line");
  if (stream === "stderr") line.title = "stderr";
  if (runs.length === 1 && !runs[0][1]) line.textContent = runs[0][0];
  else for (const [text, style] of runs) line.append(styledSpan(text, style));
  return line;
}

function paletteColour(index) {
  if (index < BASIC_COLOURS) return `var(--asubp-colour-${index})`;
  if (index >= 232) {
    const level = 8 + (index - 232) * 10;
    return `rgb(${level}, ${level}, ${level})`;
  }
  const cube = index - 16;
  const level = (value) => (value === 0 ? 0 : 55 + value * 40);
  return `rgb(${level(Math.floor(cube / 36))}, ${level(Math.floor(cube / 6) % 6)}, ${level(cube % 6)})`;
}

function formatSeconds(seconds) {
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${Math.floor(seconds % 60)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

function formatBytes(count) {
  if (count < 1024) return `${count} B`;
  if (count < 1024 * 1024) return `${(count / 1024).toFixed(1)} KiB`;
  return `${(count / 1024 / 1024).toFixed(1)} MiB`;
}

function render({ model, el }) {
  const root = element("div", "asubp-view");
  const header = element("div", "asubp-header");
  const badge = element("span", "asubp-badge", { role: "status" });
  const command = element("span", "asubp-command");
  const details = element("span", "asubp-details");
  header.append(badge, command, details);

  const hidden = element("div", "asubp-hidden");
  const pane = element("div", "asubp-pane", {
    role: "log",
    "aria-label": "process output",
    tabindex: "0",
  });
  const jump = button("jump to end ↓", "Scroll to the newest output", () => {
    pane.scrollTop = pane.scrollHeight;
    jump.hidden = true;
  });
  jump.classList.add("asubp-jump");
  jump.hidden = true;
  const paneBox = element("div", "asubp-pane-box");
  paneBox.append(pane, jump);

  const controls = element("div", "asubp-controls");
  const input = element("input", "asubp-input", {
    type: "text",
    placeholder: "input to the process; Enter sends",
    "aria-label": "input to the process",
    title: "Enter sends the line · ↑/↓ recall earlier lines · Ctrl-D ends input · Ctrl-C interrupts",
    autocomplete: "off",
    spellcheck: "false",
  });
  const send = (message) => model.send(message);
  const eof = button("EOF", "End of input: close the process's stdin (Ctrl-D)", () =>
    send({ action: "eof" }),
  );
  const interrupt = button("Interrupt", "Send SIGINT to the process group (Ctrl-C)", () =>
    send({ action: "signal", signal: "SIGINT" }),
  );
  const terminate = button("Terminate", "Send SIGTERM to the process group", () =>
    send({ action: "signal", signal: "SIGTERM" }),
  );
  const kill = button("Kill", "Send SIGKILL to the process group", () =>
    send({ action: "signal", signal: "SIGKILL" }),
  );
  const stop = button("Stop", "Stop the process tree: SIGTERM, then SIGKILL if ignored", () =>
    send({ action: "stop" }),
  );
  const copy = button("Copy", "Copy all the output shown", () => copyAll());
  const passwordLabel = element("label", "asubp-password", {
    title: "Hide what you type: it is sent but shown and kept nowhere",
  });
  const passwordBox = element("input", "", { type: "checkbox", "aria-label": "password mode" });
  passwordLabel.append(passwordBox, document.createTextNode(" hide input"));
  passwordBox.addEventListener("change", () => {
    send({ action: "password", on: passwordBox.checked });
  });
  controls.append(input, eof, interrupt, terminate, kill, stop, passwordLabel, copy);
  const note = element("div", "asubp-note", { role: "status", "aria-live": "polite" });

  root.append(header, hidden, paneBox, controls, note);
  el.append(root);

  // Input history for Up and Down; lines typed in password mode are not kept.
  // What was being typed when Up was first pressed comes back past the end.
  const history = [];
  let historyIndex = 0;
  let draft = "";
  input.addEventListener("keydown", (event) => {
    if (event.isComposing) return;
    if (event.key === "Enter") {
      event.preventDefault();
      const hidden = model.get("password") || passwordBox.checked;
      if (!hidden && input.value && history[history.length - 1] !== input.value) {
        history.push(input.value);
      }
      historyIndex = history.length;
      draft = "";
      send({ action: "send", text: input.value });
      input.value = "";
    } else if (event.key === "ArrowUp" && history.length) {
      event.preventDefault();
      if (historyIndex === history.length) draft = input.value;
      historyIndex = Math.max(historyIndex - 1, 0);
      input.value = history[historyIndex];
    } else if (event.key === "ArrowDown" && history.length) {
      event.preventDefault();
      historyIndex = Math.min(historyIndex + 1, history.length);
      input.value = history[historyIndex] ?? draft;
    } else if (event.ctrlKey && event.key.toLowerCase() === "d") {
      event.preventDefault();
      send({ action: "eof" });
    } else if (event.ctrlKey && event.key.toLowerCase() === "c") {
      if (input.selectionStart === input.selectionEnd) {
        event.preventDefault();
        send({ action: "signal", signal: "SIGINT" });
      }
    }
    // Keep JupyterLab's notebook shortcuts away from the box.
    event.stopPropagation();
  });

  function allText() {
    return model
      .get("lines")
      .map(([, runs]) => runs.map(([text]) => text).join(""))
      .join("\n");
  }

  function copyAll() {
    const text = allText();
    const done = () => (note.textContent = "copied the output shown");
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, () => fallbackCopy(text, done));
    } else {
      fallbackCopy(text, done);
    }
  }

  function fallbackCopy(text, done) {
    const area = element("textarea", "asubp-offscreen");
    area.value = text;
    root.append(area);
    area.select();
    document.execCommand("copy");
    area.remove();
    done();
  }

  // Scrolling up pauses following the output; the jump control resumes it.
  pane.addEventListener("scroll", () => {
    jump.hidden = atEnd();
  });

  function atEnd() {
    return pane.scrollHeight - pane.scrollTop - pane.clientHeight < 4;
  }

  // The lines on show, one key each. Output mostly adds lines at the end and
  // drops them at the start, so only lines whose key changed are rebuilt.
  let shownKeys = [];

  function renderLines() {
    const following = atEnd();
    const lines = model.get("lines");
    const keys = lines.map((line) => JSON.stringify(line));
    const shift = shownKeys.indexOf(keys[0]);
    const kept = shownKeys.length - shift;
    if (shift < 0 || kept > lines.length) {
      const fragment = document.createDocumentFragment();
      for (const [stream, runs] of lines) fragment.append(lineNode(stream, runs));
      pane.replaceChildren(fragment);
    } else {
      for (let i = 0; i < shift; i++) pane.firstChild.remove();
      for (let i = 0; i < kept; i++) {
        if (shownKeys[shift + i] !== keys[i]) pane.children[i].replaceWith(lineNode(...lines[i]));
      }
      const fragment = document.createDocumentFragment();
      for (let i = kept; i < lines.length; i++) fragment.append(lineNode(...lines[i]));
      pane.append(fragment);
    }
    shownKeys = keys;

    const count = model.get("hidden_lines");
    hidden.textContent = count ? `… ${count} earlier lines not shown (the handle keeps them all)` : "";
    hidden.hidden = !count;
    if (following) pane.scrollTop = pane.scrollHeight;
    else jump.hidden = false;
  }

  let receivedAt = performance.now();
  function renderHeader() {
    receivedAt = performance.now();
    const ended = model.get("ended");
    const state = model.get("state");
    badge.textContent = ended ? "ended" : state === "starting" ? "starting" : "running";
    badge.className = `asubp-badge ${ended ? "asubp-ended" : "asubp-running"}`;
    const name = model.get("name");
    const commandText = model.get("command");
    // A script shows on one line, its line breaks marked; the tooltip has it all.
    command.textContent = (name ? `${name}: ` : "") + commandText.trim().split("\n").join(" ↵ ");
    command.title = commandText;
    renderDetails();
    const closed = ended || !model.get("stdin_open");
    input.disabled = closed;
    input.placeholder = ended
      ? "the process has ended"
      : closed
        ? "stdin is closed"
        : "input to the process; Enter sends";
    eof.disabled = closed;
    for (const control of [interrupt, terminate, kill, stop]) control.disabled = ended;
    input.type = model.get("password") ? "password" : "text";
    passwordBox.checked = model.get("password");
  }

  function renderDetails() {
    let elapsed = model.get("elapsed");
    if (!model.get("ended")) elapsed += (performance.now() - receivedAt) / 1000;
    const pid = model.get("pid");
    // The badge already says "running".
    const state = model.get("state");
    details.textContent = [
      pid ? `pid ${pid}` : "",
      state === "running" ? "" : state,
      formatSeconds(elapsed),
      `out ${formatBytes(model.get("bytes_stdout"))}`,
      `err ${formatBytes(model.get("bytes_stderr"))}`,
    ]
      .filter(Boolean)
      .join(" · ");
  }

  function renderNote() {
    note.textContent = model.get("note");
  }

  renderHeader();
  renderLines();
  renderNote();
  model.on("change:lines", renderLines);
  model.on("change:hidden_lines", renderLines);
  for (const key of ["state", "ended", "pid", "elapsed", "stdin_open", "password", "name"]) {
    model.on(`change:${key}`, renderHeader);
  }
  for (const key of ["bytes_stdout", "bytes_stderr"]) model.on(`change:${key}`, renderDetails);
  model.on("change:note", renderNote);
  const ticker = setInterval(() => {
    if (!model.get("ended")) renderDetails();
  }, 1000);
  return () => clearInterval(ticker);
}

export default { render };
