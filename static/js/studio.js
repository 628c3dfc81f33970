// Policy editor: validate as you type (debounced) against /api/policy-validation/,
// listing problems with line and column; clicking one jumps to that line.
(() => {
  const source = document.getElementById("id_source");
  const box = document.getElementById("validation");
  if (!source || !box) return;
  const csrf = document.querySelector("input[name=csrfmiddlewaretoken]").value;
  let timer = null;
  let sequence = 0;

  function jumpTo(line) {
    const lines = source.value.split("\n");
    let offset = 0;
    for (let i = 0; i < line - 1 && i < lines.length; i++) offset += lines[i].length + 1;
    source.focus();
    source.setSelectionRange(offset, offset + (lines[line - 1] || "").length);
  }

  function show(result) {
    box.replaceChildren();
    if (result.valid) {
      const ok = document.createElement("p");
      ok.className = "chain ok";
      ok.dataset.valid = "true";
      const s = result.summary;
      ok.textContent = `Valid · ${s.mode} mode · ${s.rules} rules, ${s.constraints} constraints, ${s.minimize} minimization rules`;
      box.append(ok);
      return;
    }
    const list = document.createElement("ul");
    list.className = "problems";
    for (const p of result.problems) {
      const item = document.createElement("li");
      item.dataset.line = p.line;
      item.textContent = `line ${p.line}, column ${p.column}: ${p.message}`;
      item.addEventListener("click", () => jumpTo(p.line));
      list.append(item);
    }
    box.append(list);
  }

  async function validate() {
    const mine = ++sequence;
    const response = await fetch(box.dataset.validateUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify({ source: source.value }),
      credentials: "same-origin",
    });
    if (mine !== sequence || !response.ok) return;
    show(await response.json());
  }

  source.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(validate, 300);
  });
  source.addEventListener("keydown", (event) => {
    if (event.key === "Tab") {
      event.preventDefault();
      source.setRangeText("  ", source.selectionStart, source.selectionEnd, "end");
    }
  });
  validate();
})();
