"""Rebuild the generated parts (between <!-- NAME:begin --> and <!-- NAME:end -->) of the README and of
results/README.md from results/: the README shows the results table and the Colab links, results/README.md the
seeds tables, the ablation tables, the provenance, the speedrun and what the search command writes. The notebooks
show the ablation tables and the speedrun from there (utils.results.published_section)."""
from utils.files import atomic_write
from utils.lab.ablation_plans import ABLATIONS
from utils.lab.frontier import FRONTIER_FIGURE, ablation_groups, distinct, frontier_nets, plot_frontier
from utils.lab.speedrun import PAIR, speedrun_table
from utils.project import GITHUB_REPO, IMAGES_DIR, README, RESULTS_DIR, RESULTS_README, colab_url, notebook_stems
from utils.results import (ablation_path, ablation_section, bench_path, chosen_on, records_in, result_files,
                           section_pattern, seeds_files, single_path)
from utils.lab.tables import ablation_table, provenance_table, results_table
from utils.tables import seeds_table

SEEDS_FIGURE = "seeds.png"
SPEEDRUN = PAIR[1]  # whose bench file holds the speedrun's ratio
# what refresh_readme builds from the store, by the file each section stands in: the README or results/README.md
STORE_SECTIONS = {"results": "readme", "colab": "readme", "seeds": "results", "provenance": "results",
                  "speedrun": "results", **{ablation_section(stem): "results" for stem in ABLATIONS}}
TIMED_ABLATIONS = {"07_speedrun", "08_taught"}  # whose ablation table shows each variant's fit() seconds (its
# runs made alike throughout: 07's one at a time, 08's two 1-thread runs at a time)
COMMAND_SECTIONS = ("search", "schedulers")  # in results/README.md, written by utils.lab.search (rewrite_section)


def ci_badge():
    """The status badge of the GitHub Actions workflow (.github/workflows/ci.yml) that runs .ci/run."""
    workflow = f"https://github.com/{GITHUB_REPO}/actions/workflows/ci.yml"
    return f"[![CI]({workflow}/badge.svg)]({workflow})"


def colab_table(stems):
    rows = [f"CI on every push: {ci_badge()}", "", "| notebook | open |", "|---|---|"]
    for stem in stems:
        badge = f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({colab_url(stem)})"
        rows.append(f"| [{stem}](notebooks/{stem}.ipynb) | {badge} |")
    return "\n".join(rows)


def replace_section(text, name, body, where="README"):
    """Swap what stands between the NAME markers for `body`; the markers must exist."""
    pattern = section_pattern(name)
    if not pattern.search(text):
        raise ValueError(f"{where} has no <!-- {name}:begin --> ... <!-- {name}:end --> markers")
    return pattern.sub(lambda m: m.group(1) + body + "\n" + m.group(3), text)


def rewrite_section(name, body, results_readme=None):
    """Replace one generated section of results/README.md that a command writes itself, not the store (the search's
    ranking, the schedulers compared)."""
    if name not in COMMAND_SECTIONS:
        raise ValueError(f"{name!r} is not a section a command writes; those are {list(COMMAND_SECTIONS)}")
    results_readme = results_readme or RESULTS_README
    text = replace_section(results_readme.read_text(), name, body, str(results_readme))
    atomic_write(results_readme, lambda file: file.write(text.encode()))


def generated_sections(results_dir, seeds):
    """{section: its body} for each of STORE_SECTIONS; seeds: the store's seeds files ({title: records},
    utils.results.seeds_files)."""
    stems = notebook_stems()
    singles = [r for s in stems for r in records_in(single_path(s, results_dir)) if not r["smoke"]]
    files = {path.relative_to(results_dir.parent).as_posix(): records_in(path) for path in result_files(results_dir)}
    return {
        "results": results_table(singles) if singles else "_No full runs yet._",
        "colab": colab_table(stems),
        "seeds": "\n\n".join(seeds_table(t, r, chosen_on(t, results_dir)) for t, r in seeds.items())
                 or "_No multi-seed runs yet._",
        "provenance": provenance_table(files) if files else "_No results yet._",
        "speedrun": speedrun_table(records_in(bench_path(SPEEDRUN, results_dir))),
        **{ablation_section(stem): ablation_text(stem, results_dir) for stem in ABLATIONS},
    }


def ablation_text(stem, results_dir):
    """Notebook `stem`'s ablation table from its current records (utils.lab.variants)."""
    from utils.lab.variants import ablation, load_ablation  # torch, through RunConfig: only when rebuilding

    records = load_ablation(stem, ablation_path(stem, results_dir))
    if not records:
        return f"_No ablation runs yet: `python -m utils.lab.ablation {stem[:2]} --seeds 0-4`._"
    return ablation_table(records, ablation(stem).titles, seconds=stem in TIMED_ABLATIONS)


def draw_frontier(seeds, results_dir, images_dir):
    """images_dir/frontier.png: the small nets over seeds 0-9, from the seeds files and the ablations
    (utils.lab.frontier)."""
    from matplotlib import pyplot

    nets = distinct(frontier_nets({**seeds, **ablation_groups(results_dir)}))
    if nets:
        figure = plot_frontier(nets)
        atomic_write(images_dir / FRONTIER_FIGURE, lambda file: figure.savefig(file, format="png", dpi=110,
                                                                                bbox_inches="tight"))
        pyplot.close(figure)


def refresh_readme(readme=None, results_readme=None, results_dir=RESULTS_DIR, images_dir=IMAGES_DIR):
    """Rewrite the store's sections (STORE_SECTIONS) of the README and of results/README.md, each file atomically,
    and draw the seeds figure (images_dir/seeds.png) from the seeds files and the frontier of small nets
    (images_dir/frontier.png) from them and the ablations."""
    readme, results_readme = readme or README, results_readme or RESULTS_README
    texts = {"readme": (readme, readme.read_text()), "results": (results_readme, results_readme.read_text())}
    seeds = seeds_files(results_dir)
    for name, body in generated_sections(results_dir, seeds).items():
        path, text = texts[STORE_SECTIONS[name]]
        texts[STORE_SECTIONS[name]] = (path, replace_section(text, name, body, str(path)))
    if seeds:
        from matplotlib import pyplot

        from utils.plots import plot_seeds  # matplotlib (and torch, through utils.data): only when drawing

        figure = plot_seeds(seeds)
        atomic_write(images_dir / SEEDS_FIGURE, lambda file: figure.savefig(file, format="png", dpi=110,
                                                                            bbox_inches="tight"))
        pyplot.close(figure)  # an ablation redraws it after every run, and pyplot keeps each figure until closed
        draw_frontier(seeds, results_dir, images_dir)
    for path, text in texts.values():
        atomic_write(path, lambda file, text=text: file.write(text.encode()))
