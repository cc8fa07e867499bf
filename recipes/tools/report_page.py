"""The parts of a run's report page (recipes/tools/report.py): its style, the curves drawn inline, the
before/after table, the same questions before and after, and training completions with their rewards. Every
text a model wrote is escaped: it is shown, never run."""

import base64
import html
import io
import json

from recipes.tools.plot import PANELS, plt, series

COMPLETIONS = "completions.jsonl"  # samples.FILENAME, not imported: recipes/common/ loads transformers
SIDE_BY_SIDE = 20  # the first questions shown before and after; then up to as many that went from wrong to right
TRAINING_STEPS = 4  # steps of completions.jsonl shown: the first, the last and evenly between
MAX_CHARS = 3000  # longer texts are cut on the page (the result files keep them whole)
RESULT_ROWS = [("accuracy", "accuracy", " %"), ("lenient accuracy", "lenient_accuracy", " %"),
               ("format compliance", "format_rate", " %"), ("mean completion tokens", "mean_completion_tokens", "")]

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; color: #222; max-width: 1160px; margin: 1.5em auto; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0.1em; }
h2 { border-bottom: 2px solid #ddd; padding-bottom: 0.2em; margin-top: 2em; }
.note { color: #666; } .missing { color: #8a5a00; background: #fff6e0; padding: 0.5em 0.8em; border-radius: 4px; }
.curves { display: grid; grid-template-columns: 1fr 1fr; gap: 0.5em; } .curves img { width: 100%; }
table.results { border-collapse: collapse; margin: 0.6em 0; }
table.results th, table.results td { padding: 0.3em 0.9em; border-bottom: 1px solid #e4e4e4; text-align: right; }
table.results th:first-child, table.results td:first-child { text-align: left; }
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: 0.8em; margin: 0.4em 0 1.4em; }
.question { grid-column: 1 / 3; background: #f4f6f8; padding: 0.4em 0.7em; border-radius: 4px; }
.question .text { white-space: pre-wrap; }
.side { border: 1px solid #ddd; border-radius: 4px; padding: 0.3em 0.6em; min-width: 0; }
.side.right { border-left: 5px solid #2a9d4a; } .side.wrong { border-left: 5px solid #c8392b; }
.mark { font-weight: 600; } .right .mark, .mark.right { color: #1f7a38; } .wrong .mark, .mark.wrong { color: #b0301f; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; font: 13px/1.4 ui-monospace, monospace; margin: 0.3em 0;
      max-height: 22em; overflow-y: auto; }
.samples { display: grid; grid-template-columns: 1fr 1fr; gap: 0.5em 0.8em; }
.sample { border: 1px solid #ddd; border-radius: 4px; padding: 0.3em 0.6em; min-width: 0; }
.rewards { font-size: 0.9em; color: #444; } .rewards b { color: #222; }
summary { cursor: pointer; color: #345; }
"""


def result_sets(result: dict | None) -> dict[str, dict]:
    """{set name: result} for both shapes the recipes write: one evaluation ({"accuracy", "records", ...}, its set
    named "") or several ({"eval_set", "sets": {name: result}})."""
    if not isinstance(result, dict):
        return {}
    return dict(result["sets"]) if isinstance(result.get("sets"), dict) else {"": result}



def esc(text) -> str:
    text = text if isinstance(text, str) else json.dumps(text, ensure_ascii=False)
    if len(text) > MAX_CHARS:
        text = text[:MAX_CHARS] + f" [... {len(text) - MAX_CHARS} more characters]"
    return html.escape(text)


def missing(what: str) -> str:
    return f"<p class='missing'>{esc(what)}</p>"


def curves_section(histories: list[tuple[str, list[dict] | None]]) -> str:
    """Each of plot.py's panels as an inline SVG; stages follow on, a dashed line where each begins."""
    combined, starts, offset = [], [], 0
    for label, history in histories:
        steps = [h for h in history or [] if "step" in h]
        combined += [{**h, "step": h["step"] + offset} for h in steps]
        if label and steps:
            starts.append((offset, label))
        offset += max((h["step"] for h in steps), default=0)
    if not combined:
        return missing("No log_history.json (nor a checkpoint's trainer_state.json): no curves.")
    logged = sorted({k for h in combined for k in h})
    figures = []
    for _, title, wanted in PANELS:
        keys = [k for k in logged if any(k == w or (w.endswith("/") and k.startswith(w) and k.endswith("/mean"))
                                         for w in wanted)]
        if keys:
            figures.append(figure(combined, keys, title, starts))
    if not figures:
        return missing("The logged history has no reward or completion metrics to draw.")
    return "<div class='curves'>" + "".join(figures) + "</div>"


def figure(history: list[dict], keys: list[str], title: str, starts: list[tuple[int, str]]) -> str:
    fig, ax = plt.subplots(figsize=(5.6, 3.2))
    bounds = [step for step, _ in starts[1:]]
    for key in keys:
        steps, values = series(history, key)
        colour = None
        for low, high in zip([-1, *bounds], [*bounds, float("inf")]):  # a line a stage: no line from one to the next
            part = [(s, v) for s, v in zip(steps, values) if low < s <= high]
            if part:
                line, = ax.plot(*zip(*part), color=colour, marker="." if len(steps) < 50 else None,
                                label=key.removeprefix("rewards/").removesuffix("/mean") if colour is None else None)
                colour = line.get_color()
    for step, label in starts[1:]:
        ax.axvline(step + 0.5, color="#999", linestyle="--", linewidth=1)
        ax.annotate(f" {label}", (step + 0.5, 0.02), xycoords=("data", "axes fraction"), fontsize=8, color="#666")
    ax.set(title=title, xlabel="step")
    ax.grid(alpha=0.3)
    if len(keys) > 1:
        ax.legend(fontsize=8)
    fig.tight_layout()
    svg = io.BytesIO()
    fig.savefig(svg, format="svg")
    plt.close(fig)
    return f"<img alt='{esc(title)}' src='data:image/svg+xml;base64,{base64.b64encode(svg.getvalue()).decode()}'>"


def results_section(before: dict | None, after: dict | None, after_label: str,
                    published: tuple[float, float] | None) -> str:
    if before is None and after is None:
        return missing("No eval_before.json or eval_after.json: the run was not evaluated (--skip_eval), or not yet.")
    out = [] if before and after else [missing(f"No {'eval_before' if after else 'eval_after'}.json: only one side.")]
    sets_before, sets_after = result_sets(before), result_sets(after)
    names = list(dict.fromkeys([*sets_before, *sets_after]))
    if published and names != [""]:
        out.append(f"<p>Published accuracy: {published[0]:.2f} % before, {published[1]:.2f} % after.</p>")
    for name in names:
        b, a = sets_before.get(name) or {}, sets_after.get(name) or {}
        head = "<th>published</th>" if published and names == [""] else ""
        rows = [f"<tr><th></th><th>before</th><th>{esc(after_label)}</th><th>change</th>{head}</tr>"]
        measures = [(label, b.get(key), a.get(key), unit) for label, key, unit in RESULT_ROWS]
        kinds_b, kinds_a = b.get("kinds") or {}, a.get("kinds") or {}
        measures += [(f"kinds: {k}", kinds_b.get(k), kinds_a.get(k), "") for k in dict.fromkeys([*kinds_b, *kinds_a])]
        for label, vb, va, unit in measures:
            if not isinstance(vb, (int, float)) and not isinstance(va, (int, float)):
                continue
            change = f"{va - vb:+.2f}" if isinstance(vb, (int, float)) and isinstance(va, (int, float)) else ""
            cells = [cell(vb, unit), cell(va, unit), change]
            if head:
                cells.append(f"{published[0]:.2f} % &rarr; {published[1]:.2f} %" if label == "accuracy" else "")
            rows.append(f"<tr><td>{esc(label)}</td>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        n = a.get("n") or b.get("n")
        caption = f"<h3>{esc(name)}</h3>" if name else ""
        out.append(caption + "<table class='results'>" + "".join(rows) + "</table>"
                   + (f"<p class='note'>{n} questions, greedy decoding.</p>" if n else ""))
    return "\n".join(out)


def cell(value, unit: str) -> str:
    return f"{value:.2f}{unit}" if isinstance(value, (int, float)) else "-"


def pairs_section(before: dict | None, after: dict | None, after_label: str) -> str:
    sets_before, sets_after = result_sets(before), result_sets(after)
    shared = [name for name in sets_before if name in sets_after]
    if not shared:
        return missing("Both eval_before.json and eval_after.json on the same questions are needed to compare them.")
    out = []
    for name in shared:
        pairs = [(b, a) for b, a in zip(sets_before[name].get("records") or [], sets_after[name].get("records") or [])
                 if (b.get("question"), b.get("gold")) == (a.get("question"), a.get("gold"))]
        if not pairs:
            out.append(missing(f"{name or 'The evaluation'}: no completions to compare in the result files."))
            continue
        fixed = [i for i, (b, a) in enumerate(pairs) if not b.get("correct") and a.get("correct")]
        broken = sum(1 for b, a in pairs if b.get("correct") and not a.get("correct"))
        shown = list(range(min(SIDE_BY_SIDE, len(pairs))))
        more = [i for i in fixed if i >= SIDE_BY_SIDE][:SIDE_BY_SIDE]
        summary = (f"{len(pairs)} questions: {len(fixed)} went from wrong to right, {broken} from right to wrong. "
                   f"The first {len(shown)}" + (f", then {len(more)} more that went from wrong to right." if more
                                                 else "."))
        body = [f"<p>{summary}</p>", *(pair_html(i, *pairs[i], after_label) for i in shown)]
        if more:
            body += ["<h4>Wrong before, right after</h4>", *(pair_html(i, *pairs[i], after_label) for i in more)]
        out.append(f"<details open><summary>{esc(name)}</summary>{''.join(body)}</details>" if name else "".join(body))
    return "\n".join(out)


def pair_html(index: int, before: dict, after: dict, after_label: str) -> str:
    question = before.get("question")
    text = f"<span class='text'>{esc(question)}</span><br>" if question is not None else ""
    return (f"<div class='pair'><div class='question'><b>{index + 1}.</b> {text}<span class='note'>gold answer:</span> "
            f"<code>{esc(before.get('gold'))}</code></div>{side('before', before)}{side(after_label, after)}</div>")


def side(label: str, record: dict) -> str:
    verdict = "right" if record.get("correct") else "wrong"
    form = "" if record.get("format", True) else ", format not followed"
    tokens = f", {record['tokens']} tokens" if isinstance(record.get("tokens"), int) else ""
    return (f"<div class='side {verdict}'><span class='mark'>{'&#10003;' if verdict == 'right' else '&#10007;'} "
            f"{verdict}</span> <span class='note'>{esc(label)}{form}{tokens}</span>"
            f"<pre>{esc(record.get('completion', ''))}</pre></div>")


def samples_section(parts: list[tuple[str, list[dict]]]) -> str:
    if not any(samples for _, samples in parts):
        return missing(f"No {COMPLETIONS}: this run kept no training completions.")
    out = []
    for label, samples in parts:
        steps = sorted({s["step"] for s in samples})
        if not steps:
            continue
        picked = sorted({steps[round(i * (len(steps) - 1) / max(TRAINING_STEPS - 1, 1))]
                         for i in range(min(TRAINING_STEPS, len(steps)))})
        if label:
            out.append(f"<h3>{esc(label)}</h3>")
        out.append(f"<p class='note'>Steps kept: {', '.join(map(str, steps))}; shown: "
                   f"{', '.join(map(str, picked))}.</p>")
        for step in picked:
            at_step = [s for s in samples if s["step"] == step]
            prompts = list(dict.fromkeys(str(s.get("prompt", "")) for s in at_step))
            out.append(f"<h4>step {step}</h4>")
            if len(prompts) == 1:
                out.append(f"<details><summary>prompt</summary><pre>{esc(prompts[0])}</pre></details>")
            out.append("<div class='samples'>")
            for s in at_step:
                prompt = "" if len(prompts) == 1 else \
                    f"<details><summary>prompt</summary><pre>{esc(s.get('prompt', ''))}</pre></details>"
                out.append(f"<div class='sample'>{rewards_line(s)}{prompt}<pre>{esc(s.get('completion', ''))}</pre>"
                           "</div>")
            out.append("</div>")
    return "\n".join(out)


def rewards_line(sample: dict) -> str:
    def number(value):
        return f"{value:.3g}" if isinstance(value, (int, float)) else "none"

    each = " &middot; ".join(f"{esc(name)} {number(value)}" for name, value in (sample.get("rewards") or {}).items())
    return f"<div class='rewards'><b>reward {number(sample.get('reward'))}</b>" + (f" ({each})" if each else "") + \
        (f" &middot; advantage {number(sample['advantage'])}" if "advantage" in sample else "") + "</div>"
