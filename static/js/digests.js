// Digest charts: the same specs the e-mail's PNGs are drawn from, read from json_script.
document.addEventListener("DOMContentLoaded", () => {
  const source = document.getElementById("digest-charts");
  if (!source || typeof Chart === "undefined") return;
  const colours = ["#9aa7c7", "#3456d1", "#c0392b", "#2e7d4f"];
  for (const spec of JSON.parse(source.textContent)) {
    const canvas = document.querySelector(`canvas[data-chart="${CSS.escape(spec.key)}"]`);
    if (!canvas) continue;
    const line = spec.kind === "line";
    new Chart(canvas, {
      type: line ? "line" : "bar",
      data: {
        labels: spec.labels,
        datasets: spec.series.map((s, i) => ({
          label: s.name,
          data: s.values,
          backgroundColor: colours[(line ? i + 1 : i) % 4],
          borderColor: colours[(line ? i + 1 : i) % 4],
          spanGaps: false,
        })),
      },
      options: {
        animation: false,
        responsive: true,
        plugins: { title: { display: true, text: spec.title } },
        scales: spec.percent ? { y: { min: 0, max: 1, ticks: { callback: (v) => `${Math.round(v * 100)}%` } } } : {},
      },
    });
    canvas.dataset.rendered = "true";
  }
});
