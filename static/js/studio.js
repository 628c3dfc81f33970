// Policy editor: line numbers; as you type (debounced) POST /api/policy-lint/ and show syntax
// problems, lint findings (docs/lac-lint.md) and decision-history hints next to their line;
// clicking a problem or finding jumps to it. Tab indents; Esc leaves the editor.
(() => {
  const source = document.getElementById("id_source");
  const box = document.getElementById("validation");
  const gutter = document.getElementById("gutter");
  const notes = document.getElementById("notes");
  const list = document.getElementById("findings");
  if (!source || !box) return;
  const csrf = document.querySelector("input[name=csrfmiddlewaretoken]").value;
  let timer = null;
  let sequence = 0;
  let marks = new Map(); // line -> [{kind, code, text}]

  function jumpTo(line) {
    const lines = source.value.split("\n");
    let offset = 0;
    for (let i = 0; i < line - 1 && i < lines.length; i++) offset += lines[i].length + 1;
    source.focus();
    source.setSelectionRange(offset, offset + (lines[line - 1] || "").length);
  }

  function render() {
    const count = source.value.split("\n").length;
    const rows = [];
    const noteRows = [];
    for (let line = 1; line <= count; line++) {
      const here = marks.get(line) || [];
      const row = document.createElement("div");
      row.dataset.line = line;
      row.textContent = line;
      const note = document.createElement("div");
      note.dataset.line = line;
      if (here.length) {
        const worst = here.find((m) => m.kind === "problem" || m.severity === "error") || here[0];
        row.className = `mark ${worst.kind} ${worst.severity || ""}`;
        row.title = here.map((m) => m.text).join("\n");
        note.className = `mark ${worst.kind} ${worst.severity || ""}`;
        note.textContent = here.map((m) => (m.code ? `${m.code} ${m.short}` : m.short)).join(" · ");
        note.title = row.title;
      }
      rows.push(row);
      noteRows.push(note);
    }
    if (gutter) gutter.replaceChildren(...rows);
    if (notes) notes.replaceChildren(...noteRows);
    syncScroll();
  }

  function syncScroll() {
    if (gutter) gutter.scrollTop = source.scrollTop;
    if (notes) notes.scrollTop = source.scrollTop;
  }

  function mark(line, entry) {
    if (!marks.has(line)) marks.set(line, []);
    marks.get(line).push(entry);
  }

  function item(text, line, className, extra) {
    const li = document.createElement("li");
    li.dataset.line = line;
    li.className = className;
    li.textContent = text;
    if (extra) li.append(" ", extra);
    li.addEventListener("click", () => jumpTo(line));
    return li;
  }

  function show(result) {
    marks = new Map();
    box.replaceChildren();
    if (list) list.replaceChildren();
    if (!result.valid) {
      const problems = document.createElement("ul");
      problems.className = "problems";
      for (const p of result.problems) {
        problems.append(item(`line ${p.line}, column ${p.column}: ${p.message}`, p.line, ""));
        mark(p.line, { kind: "problem", text: p.message, short: p.message });
      }
      box.append(problems);
      render();
      return;
    }
    const ok = document.createElement("p");
    ok.className = "chain ok";
    ok.dataset.valid = "true";
    const s = result.summary;
    ok.textContent = `Valid · ${s.mode} mode · ${s.rules} rules, ${s.constraints} constraints, ${s.minimize} minimization rules`;
    box.append(ok);
    for (const f of result.findings) {
      mark(f.line, { kind: "finding", severity: f.severity, code: f.code, text: `${f.code} ${f.message}`, short: f.title });
      if (list) {
        const docs = document.createElement("a");
        docs.href = `${list.dataset.docsBase}#${f.code.toLowerCase()}`;
        docs.textContent = "why?";
        docs.target = "_blank";
        docs.rel = "noopener";
        list.append(item(`line ${f.line}, column ${f.column} · ${f.code} (${f.severity}): ${f.message}`, f.line, `finding ${f.severity}`, docs));
      }
    }
    for (const h of result.hints || []) {
      if (!h.line) continue;
      mark(h.line, { kind: "hint", text: h.text, short: h.text });
      if (list) list.append(item(`line ${h.line} · ${h.item}: ${h.text}`, h.line, "hint"));
    }
    render();
  }

  async function lint() {
    const mine = ++sequence;
    const body = { source: source.value };
    if (box.dataset.policy) body.policy = box.dataset.policy;
    const response = await fetch(box.dataset.lintUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify(body),
      credentials: "same-origin",
    });
    if (mine !== sequence) return;
    if (!response.ok) {
      const error = await response.json().catch(() => ({ message: `HTTP ${response.status}` }));
      box.replaceChildren(Object.assign(document.createElement("p"), { className: "error", textContent: error.message }));
      return;
    }
    show(await response.json());
  }

  source.setAttribute("wrap", "off");
  source.addEventListener("input", () => {
    render();
    clearTimeout(timer);
    timer = setTimeout(lint, 300);
  });
  source.addEventListener("scroll", syncScroll);
  source.addEventListener("keydown", (event) => {
    if (event.key === "Tab" && !event.shiftKey && !event.ctrlKey && !event.altKey && !event.metaKey) {
      event.preventDefault();
      source.setRangeText("  ", source.selectionStart, source.selectionEnd, "end");
      source.dispatchEvent(new Event("input"));
    } else if (event.key === "Escape") {
      // Keyboard users leave the editor with Esc (Tab indents inside it).
      event.preventDefault();
      const next = document.getElementById(source.dataset.escapeTo || "id_note");
      if (next) next.focus();
      else source.blur();
    }
  });
  render();
  lint();
})();
