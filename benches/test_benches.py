"""Unit tests of the benchmark scripts' own logic (no broker needed):
`python3 -m unittest discover -s benches` (CI runs it before `compare.py --smoke`)."""

import contextlib
import io
import json
import os
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import types
import unittest
import xml.dom.minidom

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bridge  # noqa: E402
import compare  # noqa: E402
import costs  # noqa: E402
import harness  # noqa: E402
import instructions  # noqa: E402
import persistence  # noqa: E402
import saturation  # noqa: E402
import scaling  # noqa: E402
import soak  # noqa: E402
import storm  # noqa: E402

try:
    import tomllib
except ImportError:  # Python < 3.11
    tomllib = None


class Ceiling(unittest.TestCase):
    def test_the_total_line_is_read_in_bytes(self):
        out = ("Memory ceiling (worst case the caps allow; max_connections 1024):\n"
               "  connection slots                 512.0 KiB  max_connections 1024 x 512 B (estimate)\n"
               "  total                           22.1 MiB\n")
        self.assertEqual(harness.parse_ceiling(out), int(22.1 * 2**20))
        self.assertEqual(harness.parse_ceiling("  total  900 KiB\n"), 900 * 1024)
        self.assertIsNone(harness.parse_ceiling("sol.conf: OK\n"))


class Pinning(unittest.TestCase):
    def tearDown(self):
        harness.PIN = None

    def test_commands_run_as_they_are_unless_pinned(self):
        self.assertEqual(harness.pinned(["sol", "-c", "x"], 0), ["sol", "-c", "x"])
        harness.PIN = (1, 0)
        self.assertEqual(harness.pinned(["sol"], 0), ["taskset", "-c", "1", "sol"])
        self.assertEqual(harness.pinned(["sol-load"], 1), ["taskset", "-c", "0", "sol-load"])

    def test_a_pinned_process_runs_on_its_cpu_only(self):
        harness.PIN = (0, 0)
        # The command reads its own affinity: taskset sets it before the exec.
        out = subprocess.run(harness.pinned(["grep", "Cpus_allowed_list", "/proc/self/status"], 0),
                             capture_output=True, text=True, check=True).stdout
        self.assertEqual(out.split(), ["Cpus_allowed_list:", "0"])


class Soak(unittest.TestCase):
    def test_flat_rss_below_the_ceiling_passes(self):
        v = soak.analyse([(t, 3000) for t in range(601)], 600, 10 * 2**20, 10)
        self.assertTrue(v["ok"], v)
        self.assertEqual((v["rss_start_kb"], v["rss_end_kb"], v["rss_max_kb"]), (3000, 3000, 3000))
        self.assertEqual((v["warmup_s"], v["window_s"]), (60, 60))

    def test_growth_beyond_the_tolerance_fails(self):
        growing = [(t, 3000 + t * 2) for t in range(601)]  # +40 % over the soak
        v = soak.analyse(growing, 600, 10 * 2**20, 10)
        self.assertFalse(v["ok"])
        self.assertTrue(any("grew" in w for w in v["why"]), v["why"])
        self.assertAlmostEqual(v["growth_pct"], (4140 - 3179) / 3179 * 100, places=1)

    def test_rss_above_the_ceiling_fails(self):
        series = [(t, 3000) for t in range(601)]
        series[300] = (300, 5000)  # one spike is enough
        v = soak.analyse(series, 600, 4 * 2**20, 10)
        self.assertFalse(v["ok"])
        self.assertTrue(any("ceiling" in w for w in v["why"]), v["why"])

    def test_short_soaks_compare_quarters(self):
        self.assertEqual(soak.windows(30), (3.0, 6.75))
        self.assertFalse(soak.analyse([(0, 1)], 30, 2**20, 10)["ok"])


class Scaling(unittest.TestCase):
    sweep = scaling.Sweep(connections=[10, 100, 1000, 10000], subscriptions=[10, 100, 1000, 10000, 100000],
                          loads=["fan-in", "fan-out"], rate=20000, duration=10, drain=5, repeats=3)

    def test_the_curves_share_one_point(self):
        self.assertEqual((self.sweep.fixed_connections, self.sweep.fixed_subscriptions), (1000, 10))
        pts = self.sweep.points()
        self.assertEqual(len(pts), 8)
        self.assertIn((10000, 10), pts)
        self.assertIn((1000, 100000), pts)

    def test_sol_limits_fit_the_point(self):
        lim = scaling.limits(1000, 100000)
        self.assertGreaterEqual(lim["max_subscriptions_per_client"] * 1000, 100000)
        self.assertGreater(lim["max_subscriptions"], 100000)
        self.assertGreater(lim["max_connections"], 1000 + scaling.MEASURED_CONNECTIONS)

    def test_both_loads_deliver_the_rate(self):
        fan_out = scaling.LOADS["fan-out"](20000)
        self.assertEqual(fan_out[fan_out.index("--rate") + 1], "2000")
        self.assertEqual(fan_out[fan_out.index("--subscribers") + 1], "10")
        fan_in = scaling.LOADS["fan-in"](20000)
        self.assertEqual(fan_in[fan_in.index("--rate") + 1], "20000")

    def test_the_svg_has_one_line_per_broker_load_and_axis(self):
        meds = [{"broker": b, "load": "fan-in", "connections": c, "subscriptions": m, "cpu_us_per_msg": 3.0 + i}
                for b in ("sol", "mosquitto") for i, (c, m) in enumerate(self.sweep.points())]
        curves = scaling.curves(meds, self.sweep)
        self.assertEqual(len(curves), 4)
        self.assertEqual([x for x, _ in curves[("connections", "sol", "fan-in")]], [10, 100, 1000, 10000])
        doc = xml.dom.minidom.parseString(scaling.svg(curves, self.sweep))
        self.assertEqual(len(doc.getElementsByTagName("polyline")), 4)
        self.assertEqual(len(doc.getElementsByTagName("circle")), 2 * (4 + 5))

    def test_axis_tops_read_well(self):
        self.assertEqual([scaling.nice_ceiling(v) for v in (8.8, 0.3, 2.1, 10, 0)], [10, 0.5, 2.5, 10, 1.0])


class Table(unittest.TestCase):
    def results(self):
        return ([{"broker": "sol", "scenario_name": "fanin-q1", "recv_rate": v} for v in (100, 300, 200)]
                + [{"broker": "mosquitto", "scenario_name": "fanin-q1", "recv_rate": 50}])

    def test_medians_and_ratios(self):
        text = compare.table(self.results(), ["sol", "mosquitto"], ["fanin-q1"])
        row = next(line for line in text.splitlines() if "msg/s delivered" in line)
        self.assertEqual(row.split()[-3:], ["200", "50", "4x"])

    def test_text_columns_can_all_be_left_aligned(self):
        text = compare.columns(["check", "n"], [["short", "1"], ["longer one", "22"]], left=2)
        self.assertEqual(text.splitlines()[2], "short       1 ")
        self.assertEqual(compare.columns(["check", "n"], [["short", "1"]], left=1).splitlines()[2], "short  1")

    def test_no_ratios_without_sol(self):
        text = compare.table(self.results(), ["mosquitto"], ["fanin-q1"])
        self.assertNotIn("sol/", text)


class NotRatios(unittest.TestCase):
    def test_a_peer_that_lost_qos_1_messages_or_held_latency_back_is_named(self):
        results = [
            {"broker": "sol", "scenario_name": "fanin-q1/single-nodelay", "recv_rate": 190_000, "lost": 0},
            {"broker": "mosquitto", "scenario_name": "fanin-q1/single-nodelay", "recv_rate": 2_900, "lost": 832_531},
            {"broker": "rumqttd", "scenario_name": "fanin-q1/single-nodelay", "recv_rate": 24_000, "lost": 0},
            {"broker": "sol", "scenario_name": "latency/single-nodelay", "lat_p50_us": 17, "lost": 0},
            {"broker": "mosquitto", "scenario_name": "latency/single-nodelay", "lat_p50_us": 18_522, "lost": 0},
            {"broker": "rumqttd", "scenario_name": "latency/single-nodelay", "lat_p50_us": 9_000, "lost": 0},
            {"broker": "sol", "scenario_name": "fanin-q0", "recv_rate": 3e6, "lost": 0},
            {"broker": "mosquitto", "scenario_name": "fanin-q0", "recv_rate": 3e5, "lost": 600_000},
        ]
        lines = compare.not_ratios(results, ["sol", "mosquitto", "rumqttd"],
                                   ["fanin-q0", "fanin-q1/single-nodelay", "latency/single-nodelay"])
        self.assertEqual(len(lines), 2, lines)
        self.assertTrue(lines[0].startswith("fanin-q1/single-nodelay: mosquitto lost 832,531 acknowledged QoS 1"))
        self.assertTrue(lines[1].startswith("latency/single-nodelay: mosquitto held messages back (p50 18.5 ms"))
        # QoS 0 drops are the policy, not a collapse; rumqttd kept under the threshold.
        self.assertEqual(compare.not_ratios(results, ["mosquitto"], ["fanin-q1/single-nodelay"]), [],
                         "no Sol, no ratios to qualify")


class Workloads(unittest.TestCase):
    def test_latency_and_qos1_scenarios_run_once_per_workload_and_floods_once(self):
        runs = compare.cases(["fanin-q0", "latency", "fanin-q1"], ["single-nodelay", "batch-delay"])
        self.assertEqual(runs, ["fanin-q0", "latency/single-nodelay", "latency/batch-delay",
                                "fanin-q1/single-nodelay", "fanin-q1/batch-delay"])
        self.assertEqual(compare.split_case("latency/batch-delay"), ("latency", "batch-delay"))
        self.assertEqual(compare.split_case("fanin-q0-tls"), ("fanin-q0-tls", None))

    def test_each_workload_names_sol_loads_write_mode_and_nodelay(self):
        for name, extra in compare.WORKLOADS.items():
            mode, delay = name.split("-")
            self.assertEqual(extra, ["--write-mode", mode, "--nodelay", "on" if delay == "nodelay" else "off"])
        self.assertEqual(compare.DEFAULT_WORKLOADS, ["single-nodelay"])

    def test_a_metric_of_every_workload_sits_side_by_side(self):
        results = [{"broker": b, "scenario_name": f"latency/{w}", "lat_p99_us": p99, "lat_p50_us": 1}
                   for b, w, p99 in [("sol", "single-nodelay", 100), ("mosquitto", "single-nodelay", 400),
                                     ("sol", "batch-delay", 200), ("mosquitto", "batch-delay", 800)]]
        text = compare.table(results, ["sol", "mosquitto"], ["latency/single-nodelay", "latency/batch-delay"])
        rows = [line.split() for line in text.splitlines()[2:]]
        self.assertEqual([(r[0], r[1]) for r in rows[:4]],
                         [("latency/single-nodelay", "p50"), ("latency/batch-delay", "p50"),
                          ("latency/single-nodelay", "p99"), ("latency/batch-delay", "p99")])
        self.assertEqual(rows[2][-3:], ["100", "400", "0.25x"])
        self.assertEqual(rows[3][-3:], ["200", "800", "0.25x"])


class FakeBroker:
    def __init__(self, name):
        self.name = name


def fake_run(capacity, flood_lost=0, subscribers=1, calls=None):
    """A `run(broker, gen_args)` whose broker `name` delivers up to `capacity[name]`
    published msg/s without loss when paced, and floods at twice that, losing
    `flood_lost[name]` (QoS 1) messages."""
    def run(broker, gen_args):
        if calls is not None:
            calls.append((broker.name, list(gen_args)))
        cap = capacity[broker.name]
        if "--rate" in gen_args:
            rate = float(gen_args[gen_args.index("--rate") + 1])
            sent = min(rate, cap)
            lost = 0 if rate <= cap else int(rate - cap)
            return {"broker": broker.name, "send_rate": sent, "recv_rate": sent * subscribers, "lost": lost,
                    "errors": 0, "subscribers": subscribers, "duration_s": 1, "broker_cpu_window_s": sent / cap}
        lost = (flood_lost or {}).get(broker.name, 0)
        return {"broker": broker.name, "send_rate": 2 * cap, "recv_rate": (cap if not lost else cap / 20) * subscribers,
                "lost": lost, "errors": 0, "subscribers": subscribers}
    return run


class Saturation(unittest.TestCase):
    def test_bisection_finds_the_highest_passing_rate_within_its_resolution(self):
        rate, trail = saturation.bisect(lambda r: r <= 98_729, 0, 186_000, 6)
        self.assertEqual(len(trail), 6)
        self.assertLessEqual(rate, 98_729)
        self.assertGreater(rate, 98_729 - 186_000 / 2 ** 6)
        self.assertEqual(trail[0], (93_000, True))
        self.assertEqual(saturation.bisect(lambda r: False, 0, 100, 4)[0], 0)
        # Probes stop when the interval has no whole rate left.
        self.assertEqual(saturation.bisect(lambda r: True, 0, 3, 10), (2, [(2, True)]))

    def test_a_probe_passes_only_if_it_kept_up_and_lost_nothing(self):
        ok = {"lost": 0, "errors": 0, "send_rate": 960, "recv_rate": 96_000, "subscribers": 100}
        self.assertTrue(saturation.passed(ok, 1000))
        self.assertFalse(saturation.passed(dict(ok, send_rate=940), 1000))
        self.assertFalse(saturation.passed(dict(ok, recv_rate=90_000), 1000))  # delivered after the window
        self.assertFalse(saturation.passed(dict(ok, lost=1), 1000))
        self.assertFalse(saturation.passed(dict(ok, errors=2), 1000))

    def test_fan_out_saturation_is_per_published_message(self):
        run = fake_run({"mosquitto": 4000}, subscribers=100)
        sat = saturation.saturation(run, FakeBroker("mosquitto"), "fanout-q0", ["fan-out", "--qos", "0"], 6)
        self.assertEqual(sat["flood_recv_rate"], 400_000)
        self.assertEqual(sat["saturation"], 4000)
        self.assertNotIn("lossless_rate", sat)

    def test_a_lossless_qos1_flood_is_its_own_answer_and_a_lossy_one_is_bisected(self):
        calls = []
        run = fake_run({"sol": 200_000, "mosquitto": 100_000}, flood_lost={"mosquitto": 5000}, calls=calls)
        sol = saturation.saturation(run, FakeBroker("sol"), "fanin-q1", ["fan-in", "--qos", "1"], 6)
        self.assertEqual((sol["lossless_rate"], sol["probes"], len(calls)), (200_000, [], 1))
        mosq = saturation.saturation(run, FakeBroker("mosquitto"), "fanin-q1", ["fan-in", "--qos", "1"], 6)
        self.assertEqual(mosq["flood_recv_rate"], 5000)
        self.assertEqual(len(mosq["probes"]), 6)
        self.assertLessEqual(mosq["lossless_rate"], 100_000)
        self.assertGreater(mosq["lossless_rate"], 100_000 - 200_000 / 2 ** 6)
        self.assertEqual(mosq["saturation"], mosq["lossless_rate"])
        # Probes go up to the rate the flood was acknowledged at (2 x capacity here).
        self.assertEqual(calls[2], ("mosquitto", ["fan-in", "--qos", "1", "--rate", "100000"]))

    def test_every_peer_runs_at_half_and_four_fifths_of_mosquittos_saturation_in_each_workload(self):
        calls = []
        run = fake_run({"sol": 300_000, "mosquitto": 100_000}, calls=calls)
        brokers = [FakeBroker("sol"), FakeBroker("mosquitto")]
        workloads = {"single-nodelay": ["--write-mode", "single"], "batch-delay": ["--nodelay", "off"]}
        sats, results, failures = saturation.sweep(run, brokers, {"fanin-q0": ["fan-in", "--qos", "0"]},
                                                   ["--write-mode", "batch"], workloads, 2, 6, lambda _m: None)
        self.assertEqual(failures, [])
        self.assertEqual([s["saturation"] for s in sats], [300_000, 100_000])
        self.assertEqual(calls[0], ("sol", ["fan-in", "--qos", "0", "--write-mode", "batch"]))
        paced = calls[2:]
        self.assertEqual(len(paced), 2 * 2 * 2 * 2)  # fractions x workloads x repeats x peers
        self.assertEqual(paced[0], ("sol", ["fan-in", "--qos", "0", "--rate", "50000", "--write-mode", "single"]))
        self.assertEqual(paced[2][0], "mosquitto")  # the second repetition reverses the order
        self.assertEqual({c[1][c[1].index("--rate") + 1] for c in paced}, {"50000", "80000"})
        self.assertEqual(results[0]["scenario_name"], "fanin-q0 50% 50,000/s single-nodelay")
        self.assertEqual((results[0]["asked_rate"], results[0]["broker_cpu_pct"]), (50_000, 16.7))
        self.assertEqual(saturation.behind(results, ["sol", "mosquitto"]), [])
        slow = [dict(results[0], send_rate=40_000)]
        self.assertEqual(len(saturation.behind(slow, ["sol"])), 1)

    def test_the_sweep_needs_stock_mosquitto(self):
        with self.assertRaises(SystemExit):
            saturation.sweep(fake_run({"sol": 1}), [FakeBroker("sol")], {"fanin-q0": []}, [], {}, 1, 1,
                             lambda _m: None)


class Docs(unittest.TestCase):
    doc = "# Results\n\n<!-- compare.py begin t -->\nold table\n<!-- compare.py end t -->\n\nafter\n"

    def test_the_block_between_its_markers_is_replaced_and_nothing_else(self):
        new = harness.splice(self.doc, "t", "new table\n")
        self.assertEqual(new, self.doc.replace("old table", "new table"))
        self.assertEqual(harness.splice(new, "t", "new table"), new)

    def test_a_missing_block_is_appended_with_its_markers(self):
        new = harness.splice(self.doc, "other", "x")
        self.assertTrue(new.startswith(self.doc))
        self.assertTrue(new.endswith("<!-- compare.py begin other -->\nx\n<!-- compare.py end other -->\n"))
        self.assertEqual(harness.splice(new, "other", "y"), new.replace("\nx\n", "\ny\n"))

    def test_broken_markers_are_refused(self):
        for text in ["<!-- compare.py begin t -->\n", "<!-- compare.py end t -->\n<!-- compare.py begin t -->\n",
                     self.doc + self.doc]:
            with self.assertRaises(ValueError):
                harness.splice(text, "t", "x")

    def test_a_table_is_headed_by_its_command_commit_machine_and_date(self):
        head = harness.provenance("benches/compare.py --latency-sweep", {"cpu": "Xeon", "cores": 2, "kernel": "6.1"},
                                  "2026-12-06 12:00 UTC", "abc1234")
        self.assertIn("```sh\nbenches/compare.py --latency-sweep\n```", head)
        self.assertIn("`abc1234`", head)
        self.assertIn("2026-12-06 12:00 UTC", head)
        self.assertIn("Machine: Xeon, 2 cores, Linux 6.1.", head)

    def test_write_docs_keeps_the_rest_of_the_file(self):
        path = os.path.join(tempfile.mkdtemp(), "perf.md")
        with open(path, "w") as f:
            f.write(self.doc)
        harness.write_docs(path, "t", "a | b\n")
        with open(path) as f:
            text = f.read()
        self.assertTrue(text.startswith("# Results\n\n<!-- compare.py begin t -->\nCommand (Sol at `"))
        self.assertIn("```\na | b\n```\n<!-- compare.py end t -->\n\nafter\n", text)


class BenchRun(unittest.TestCase):
    def test_the_directory_and_out_file_live_only_inside_and_sigterm_is_put_back(self):
        out_path = os.path.join(tempfile.mkdtemp(), "runs.jsonl")
        with open(out_path, "w") as f:
            f.write("earlier\n")
        before = signal.getsignal(signal.SIGTERM)
        with harness.bench_run("sol-test-", out_path) as (tmp, out):
            self.assertTrue(os.path.basename(tmp).startswith("sol-test-"))
            self.assertEqual(stat.S_IMODE(os.stat(tmp).st_mode), 0o755)
            self.assertIsNot(signal.getsignal(signal.SIGTERM), before)
            out.write("this run\n")
        self.assertFalse(os.path.exists(tmp))
        self.assertTrue(out.closed)
        self.assertIs(signal.getsignal(signal.SIGTERM), before)
        with open(out_path) as f:
            self.assertEqual(f.read(), "earlier\nthis run\n")

    def test_sigterm_exits_through_the_callers_finally(self):
        stopped = []
        with self.assertRaises(SystemExit) as e:
            with harness.bench_run("sol-test-") as (tmp, out):
                self.assertIsNone(out)
                try:
                    # Delivered before kill() returns (POSIX), handled at the next bytecode.
                    os.kill(os.getpid(), signal.SIGTERM)
                    self.fail("SIGTERM did not exit")
                finally:
                    stopped.append("brokers")
        self.assertEqual(e.exception.code, 1)
        self.assertEqual(stopped, ["brokers"])
        self.assertFalse(os.path.exists(tmp))


class Proc(unittest.TestCase):
    def test_context_switches_of_every_thread_are_counted(self):
        napped, stop = threading.Event(), threading.Event()

        def nap():
            for _ in range(50):
                time.sleep(0.001)  # each sleep is a voluntary context switch of this thread
            napped.set()
            stop.wait()

        t = threading.Thread(target=nap)
        t.start()
        napped.wait()
        whole = harness.proc_sample(os.getpid())
        main_only = harness._status(f"/proc/{os.getpid()}/status")  # the main thread's own
        stop.set()
        t.join()
        self.assertGreater(whole["rss_kb"], 0)
        self.assertGreaterEqual(whole["vol"], int(main_only["voluntary_ctxt_switches"]) + 50)

    def test_cpu_of_a_running_thread_is_counted_as_user_time(self):
        stop = threading.Event()

        def spin():
            while not stop.is_set():
                pass

        t = threading.Thread(target=spin)
        before = harness.proc_sample(os.getpid())
        t.start()
        time.sleep(0.3)  # the main thread sleeps; only the spinning thread runs
        during = harness.proc_sample(os.getpid())
        stop.set()
        t.join()
        cpu, user = during["cpu"] - before["cpu"], during["user"] - before["user"]
        self.assertGreater(cpu, 0.1)
        self.assertGreater(user, 0.1, "a loop in user space is user time")
        self.assertLessEqual(user, cpu + 0.02, "user time is part of the CPU (10 ms ticks)")


class StaleBinary(unittest.TestCase):
    def test_a_source_newer_than_the_binary_is_named(self):
        with tempfile.TemporaryDirectory() as d:
            binary, old, new = (os.path.join(d, n) for n in ("sol", "old.rs", "new.rs"))
            for path, mtime in ((old, 100), (binary, 200), (new, 300)):
                with open(path, "w") as f:
                    f.write("x")
                os.utime(path, (mtime, mtime))
            with open(binary + ".d", "w") as f:
                f.write(f"{binary}: {old} {new} {os.path.join(d, 'gone.rs')}\n")
            self.assertEqual(harness.stale_sources(binary), [new])
            os.utime(binary, (400, 400))
            self.assertEqual(harness.stale_sources(binary), [], "rebuilt: nothing newer")

    def test_without_dep_info_nothing_is_known_stale(self):
        with tempfile.TemporaryDirectory() as d:
            binary = os.path.join(d, "sol")
            open(binary, "w").close()
            self.assertEqual(harness.stale_sources(binary), [])


class NoUserCeiling(unittest.TestCase):
    def test_the_wall_time_less_the_brokers_own_code(self):
        # 1 M messages in 5 s, of which the broker's code ran 1 s: at most 1 M in 4 s.
        self.assertEqual(harness.no_user_ceiling(1_000_000, 5.0, 1.0), 250_000)
        self.assertEqual(harness.no_user_ceiling(1_000_000, 5.0, 0.0), 200_000, "no user time: the rate itself")

    def test_undefined_without_messages_or_wall_time_left(self):
        self.assertIsNone(harness.no_user_ceiling(0, 5.0, 1.0))
        self.assertIsNone(harness.no_user_ceiling(10, 1.0, 1.0))


class HostSteal(unittest.TestCase):
    def test_steal_is_the_eighth_number_of_the_cpu_line(self):
        line = "cpu  237900 30511 158778 571864 2210 0 76729 33423 0 0"
        self.assertEqual(harness.cpu_times(line), (33423, 237900 + 30511 + 158778 + 571864 + 2210 + 76729 + 33423))
        self.assertEqual(harness.cpu_times("cpu 1 2 3 4"), (0, 10), "an old kernel without steal")

    def test_steal_pct_is_the_share_of_all_cpu_time_between_two_samples(self):
        self.assertEqual(harness.steal_pct((100, 1000), (192, 2000)), 9.2)
        self.assertEqual(harness.steal_pct((5, 10), (5, 10)), 0.0)

    def test_a_note_only_when_some_run_was_above_the_threshold(self):
        self.assertEqual(harness.steal_note([]), "")
        self.assertEqual(harness.steal_note([0.0, 1.5, harness.STEAL_WARN_PCT]), "")
        note = harness.steal_note([0.5, 9.2, 4.0])
        self.assertIn("median 4 %", note)
        self.assertIn("max 9.2 %", note)
        self.assertIn("2 of 3 runs", note)
        self.assertIn("2 run(s) made again", harness.steal_note([0.5], [7.5, 30.0]))
        self.assertIn("up to 30 %", harness.steal_note([0.5], [7.5, 30.0]))

    def test_a_run_is_made_again_only_above_the_rerun_threshold_and_while_reruns_are_left(self):
        over = {"host_steal_pct": harness.STEAL_RERUN_PCT + 0.1}
        self.assertTrue(harness.disturbed(over, 1))
        self.assertFalse(harness.disturbed(over, 0), "no reruns left: the run is kept")
        self.assertFalse(harness.disturbed({"host_steal_pct": harness.STEAL_RERUN_PCT}, 2))
        self.assertFalse(harness.disturbed({}, 2), "no steal measured")

    def measured(self, steals):
        """harness.measure over runs with these steals (measure_once stubbed, log quiet):
        the result, the steals it recorded as rerun and as kept, and the runs it made."""
        runs = iter([{"host_steal_pct": v} for v in steals])
        made = []
        once, log, rerun, seen = harness.measure_once, harness.log, list(harness.steal_rerun), list(harness.steal_seen)
        harness.measure_once = lambda *a, **k: made.append(1) or dict(next(runs))
        harness.log = lambda *a, **k: None
        try:
            r = harness.measure(None, [], None, None)
        finally:
            harness.measure_once, harness.log = once, log
            added = harness.steal_rerun[len(rerun):], harness.steal_seen[len(seen):]
            harness.steal_rerun[:], harness.steal_seen[:] = rerun, seen
        return r, added, len(made)

    def test_measure_keeps_the_first_run_the_host_left_alone(self):
        r, added, made = self.measured([20.0, 1.0, 0.0])
        self.assertEqual((r["host_steal_pct"], r["steal_reruns"], made), (1.0, 1, 2))
        self.assertEqual(added, ([20.0], [1.0]))

    def test_measure_keeps_the_last_run_once_its_reruns_are_spent(self):
        r, added, made = self.measured([20.0, 30.0, 9.0, 0.0])
        self.assertEqual(made, harness.STEAL_RERUNS + 1)
        self.assertEqual((r["host_steal_pct"], r["steal_reruns"]), (9.0, harness.STEAL_RERUNS))
        self.assertEqual(added, ([20.0, 30.0], [9.0]))
        self.assertIn("2 run(s) made again", harness.steal_note(*reversed(added)))


class BrokerConfigs(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()

    def read(self, path):
        with open(path) as f:
            return f.read()

    @unittest.skipIf(tomllib is None, "needs Python 3.11 tomllib")
    def test_rumqttd_has_only_a_loopback_v4_listener_with_the_common_window(self):
        b = harness.RumqttdBroker("rumqttd", "/bin/true", self.tmp)
        conf = tomllib.loads(self.read(b.write_conf(4242)))
        self.assertEqual(set(conf), {"id", "router", "v4"})
        (listener,) = conf["v4"].values()
        self.assertEqual(listener["listen"], "127.0.0.1:4242")
        self.assertEqual(listener["connections"]["max_inflight_count"], harness.INFLIGHT)
        self.assertEqual(listener["next_connection_delay_ms"], 1)  # as shipped
        self.assertEqual(conf["router"]["max_connections"], 10010)
        raised = tomllib.loads(self.read(b.write_conf(4242, {"max_connections": 20000})))
        self.assertEqual(raised["router"]["max_connections"], 20000)

    def test_sol_caps_are_written_only_when_asked(self):
        b = harness.SolBroker("sol", "/bin/true", self.tmp)
        plain = self.read(b.write_conf(0))
        self.assertIn("listener 0 127.0.0.1", plain)
        self.assertIn(f"max_inflight_messages {harness.INFLIGHT}", plain)
        self.assertNotIn("max_connections", plain)
        capped = self.read(b.write_conf(0, scaling.limits(100, 1000)))
        self.assertIn("max_connections 175", capped)
        self.assertIn("max_subscriptions 1075", capped)
        self.assertIn("max_subscriptions_per_client 18", capped)
    def test_a_sol_window_peer_overrides_the_common_window_and_nothing_else(self):
        args = types.SimpleNamespace(connection_messages=False, rumqttd=None)
        (b,) = compare.make_brokers(["sol-w100"], args, "/bin/true", self.tmp)
        self.assertEqual(b.name, "sol-w100")
        lines = self.read(b.write_conf(0)).splitlines()
        windows = [line for line in lines if line.startswith("max_inflight_messages")]
        # Sol, like Mosquitto, takes an option's last line.
        self.assertEqual(windows, [f"max_inflight_messages {harness.INFLIGHT}", "max_inflight_messages 100"])
        for bad in ("sol-w", "sol-w0", "sol-wx"):
            with self.assertRaises(SystemExit):
                compare.make_brokers([bad], args, "/bin/true", self.tmp)



    def test_a_tls_listener_gets_the_certificate_lines_where_the_harness_knows_how(self):
        certs = types.SimpleNamespace(ca="/c/ca.crt", listener_lines=["certfile /c/server.crt",
                                                                       "keyfile /c/server.key"])
        for b in (harness.SolBroker("sol", "/bin/true", self.tmp),
                  harness.MosquittoBroker("mosquitto", "/bin/true", self.tmp)):
            lines = self.read(b.write_conf(1883, tls=certs)).splitlines()
            self.assertEqual(sum(line.startswith("listener") for line in lines), 1)
            self.assertEqual(lines[-2:], certs.listener_lines)
            self.assertNotIn("certfile", self.read(b.write_conf(1883)))
        with self.assertRaises(ValueError):
            harness.RumqttdBroker("rumqttd", "/bin/true", self.tmp).write_conf(1883, tls=certs)


class TlsScenarios(unittest.TestCase):
    def test_each_is_its_plain_load_and_none_is_in_the_default_run(self):
        tls = [s for s in compare.SCENARIOS if compare.is_tls(s)]
        self.assertEqual(tls, ["fanin-q0-tls", "fanout-q0-tls", "latency-tls"])
        for s in tls:
            self.assertEqual(compare.SCENARIOS[s], compare.SCENARIOS[s[:-len(compare.TLS_SUFFIX)]])
            self.assertNotIn(s, compare.DEFAULT_SCENARIOS)


class WsScenarios(unittest.TestCase):
    def test_each_is_its_plain_load_on_sol_only_and_none_is_in_the_default_run(self):
        ws = [s for s in compare.SCENARIOS if compare.is_ws(s)]
        self.assertEqual(ws, ["fanin-q0-ws", "fanout-q0-ws", "idle-rss-ws"])
        for s in ws:
            self.assertEqual(compare.SCENARIOS[s], compare.SCENARIOS[s[:-len(compare.WS_SUFFIX)]])
            self.assertNotIn(s, compare.DEFAULT_SCENARIOS)
        self.assertLessEqual(set(compare.WS_SMOKE), set(ws))
        tmp = tempfile.mkdtemp()
        sol = harness.SolBroker("sol", "/bin/true", tmp)
        mosquitto = harness.MosquittoBroker("mosquitto", "/bin/true", tmp)
        self.assertTrue(compare.runs_on(sol, "fanin-q0-ws"))
        self.assertFalse(compare.runs_on(mosquitto, "fanin-q0-ws"))
        self.assertTrue(compare.runs_on(mosquitto, "fanin-q0-tls"))
        self.assertFalse(compare.runs_on(harness.RumqttdBroker("r", "/bin/true", tmp), "fanin-q0-tls"))

    def test_the_listener_speaks_websockets_after_its_tls_lines(self):
        tmp = tempfile.mkdtemp()
        certs = types.SimpleNamespace(ca="/c/ca.crt", listener_lines=["certfile /c/server.crt",
                                                                       "keyfile /c/server.key"])
        b = harness.SolBroker("sol", "/bin/true", tmp)
        with open(b.write_conf(1883, tls=certs, ws=True)) as f:
            lines = f.read().splitlines()
        self.assertEqual(lines[0], "listener 0 127.0.0.1")
        self.assertEqual(lines[-3:], certs.listener_lines + ["protocol websockets"])
        with open(b.write_conf(1883)) as f:
            self.assertNotIn("websockets", f.read())
        with self.assertRaises(ValueError):
            harness.MosquittoBroker("mosquitto", "/bin/true", tmp).write_conf(1883, ws=True)

    def test_interleaved_rounds_alternate_each_pair(self):
        order = compare.run_order(["a", "a-ws"], 3, interleave=True)
        self.assertEqual(order, [(0, "a"), (0, "a-ws"), (1, "a-ws"), (1, "a"), (2, "a"), (2, "a-ws")])
        self.assertEqual(compare.run_order(["a", "b"], 2, interleave=False), [(0, "a"), (1, "a"), (0, "b"), (1, "b")])

    def test_ws_against_tcp_ratios_and_memory_difference(self):
        results = ([{"broker": "sol", "scenario_name": "fanin-q0", "recv_rate": v} for v in (100, 300, 200)]
                   + [{"broker": "sol", "scenario_name": "fanin-q0-ws", "recv_rate": v} for v in (150, 160)]
                   + [{"broker": "sol", "scenario_name": "idle-rss", "rss_per_conn": 600}]
                   + [{"broker": "sol", "scenario_name": "idle-rss-ws", "rss_per_conn": 750}])
        text = compare.ws_table(results, ["fanin-q0", "fanin-q0-ws", "idle-rss", "idle-rss-ws"])
        rate = next(line for line in text.splitlines() if "msg/s delivered" in line)
        self.assertEqual(rate.split()[-3:], ["200", "155", "0.775x"])
        rss = next(line for line in text.splitlines() if "RSS B/idle conn" in line)
        self.assertEqual(rss.split()[-4:], ["600", "750", "1.25x", "+150"])
        self.assertEqual(compare.ws_table(results, ["fanin-q0-ws"]), "")


class Persistence(unittest.TestCase):
    def test_packets_split_where_they_end(self):
        pub = persistence.publish("home/a", b"x" * 200, qos=1, retain=True, packet_id=7)  # 2-byte length
        stream = bytearray(pub + b"\x40\x02\x00\x07" + pub[:5])
        packets, used = persistence.split_packets(stream)
        self.assertEqual(used, len(pub) + 4)  # the torn third packet waits for more bytes
        (first, body), (ack, ack_body) = packets
        self.assertEqual(first, 0x33)
        self.assertEqual(persistence.publish_fields(first, body), (b"home/a", 1, 7))
        self.assertEqual((ack >> 4, ack_body), (4, b"\x00\x07"))
        self.assertEqual(persistence.varint(16384), b"\x80\x80\x01")

    def test_the_two_readings_publish_what_the_issue_says(self):
        self.assertAlmostEqual(persistence.expected_rate(2000, "uniform"), 200.0)
        self.assertAlmostEqual(persistence.expected_rate(2000, "mix"), 200 / 10 + 1800 / 300)
        sched = persistence.Schedule(2000, "mix", seed=1, start=0.0)
        due = [i for t in range(1, 601) for i in sched.pop_due(float(t))]
        self.assertAlmostEqual(len(due) / 600, 26, delta=2)
        self.assertLess(max(due.count(i) for i in range(200, 2000)), 4)  # cold: every ~5 minutes

    def test_write_bursts_are_counted_per_save(self):
        series = [(1, 0), (2, 4096), (3, 8192), (4, 8192), (5, 8192), (6, 12288), (7, 12288)]
        self.assertEqual(persistence.bursts(series), 2)
        self.assertEqual(persistence.per_hour(1000, 180), 20000)

    def test_the_store_directory_is_found_on_its_filesystem(self):
        mounts = "/dev/vda / ext4 rw 0 0\ntmpfs /tmp tmpfs rw 0 0\ntmpfs /tmpx tmpfs rw 0 0\n"
        self.assertEqual(persistence.filesystem("/tmp/a/b", mounts)[2], "tmpfs")
        self.assertEqual(persistence.filesystem("/tmpa", mounts)[2], "ext4")
        self.assertEqual(persistence.filesystem("/var/tmp", mounts)[2], "ext4")

    def test_durability_modes_in_each_brokers_keys(self):
        sol = persistence.persistence_lines("sol", "sync", "/d", 60)
        self.assertEqual(sol, ["persistence true", "persistence_location /d", "autosave_interval 60",
                               "persistence_sync true"])
        self.assertNotIn("persistence_sync true", persistence.persistence_lines("sol", "interval", "/d", 60))
        self.assertEqual(persistence.persistence_lines("sol", "off", "/d", 60), [])
        mosq = persistence.persistence_lines("mosquitto", "on", "/d", 60)
        self.assertIn("persistence_location /d/", mosq)  # Mosquitto appends the file name as is
        with self.assertRaises(ValueError):
            persistence.persistence_lines("mosquitto", "sync", "/d", 60)

    def test_sol_listens_on_the_port_chosen_for_it(self):
        tmp = tempfile.mkdtemp()
        b = persistence.Sol("sol", "/bin/true", tmp, persistence.cap_lines("sol", 100000, 2000))
        with open(b.write_conf(4242)) as f:
            conf = f.read()
        self.assertIn("listener 4242 127.0.0.1", conf)
        self.assertNotIn("listener 0 ", conf)
        self.assertIn("max_retained_messages 101000", conf)
        self.assertIn("max_queued_messages 2000", conf)


class Bridge(unittest.TestCase):
    def args(self, **kw):
        a = dict(outbox_messages=2000, policy="drop_oldest", drain_timeout=120.0, qos=1, publishers=16,
                 size=64, rate=10000.0, duration=10.0, drain=5.0)
        a.update(kw)
        return types.SimpleNamespace(**a)

    def test_both_bridges_forward_the_same_topic_with_the_same_queue_cap(self):
        tmp = tempfile.mkdtemp()
        sol = harness.SolBroker("sol", "/bin/true", tmp, bridge.sol_bridge_lines(
            4242, 1, 100000, "64M", restart_timeout="2", sys_interval=1))
        with open(sol.write_conf(0)) as f:
            lines = f.read().splitlines()
        self.assertLess(lines.index("sys_interval 1"), lines.index("connection up"))  # a global key
        for line in ("address 127.0.0.1:4242", "topic bench/# out 1", "bridge_outbox_messages 100000",
                     "bridge_outbox_bytes 64M", "bridge_outbox_policy drop_oldest", "restart_timeout 2"):
            self.assertIn(line, lines)
        self.assertGreater(lines.index("address 127.0.0.1:4242"), lines.index("connection up"))
        mosq = harness.MosquittoBroker("mosquitto", "/bin/true", tmp, bridge.mosquitto_bridge_lines(4242, 0, 100000))
        with open(mosq.write_conf(1883)) as f:
            lines = f.read().splitlines()
        self.assertLess(lines.index("max_queued_messages 100000"), lines.index("connection up"))
        self.assertIn("topic bench/# out 0", lines)
        self.assertIn(f"max_inflight_messages {harness.INFLIGHT}", lines)

    def test_the_loads_differ_only_in_rate_and_subscribe_upstream_elsewhere(self):
        flood, paced = (bridge.load_args(sc, self.args()) for sc in ("flood", "paced"))
        self.assertEqual(flood[flood.index("--rate") + 1], "0")
        self.assertEqual(paced[paced.index("--rate") + 1], "10000")
        self.assertEqual([x for i, x in enumerate(flood) if i != flood.index("--rate") + 1],
                         [x for i, x in enumerate(paced) if i != paced.index("--rate") + 1])
        self.assertNotIn("--sub-port", flood)  # added with the upstream's port

    def test_sequence_numbers_survive_the_payload_and_repeats_are_counted(self):
        p = bridge.seq_payload(70000, 64)
        self.assertEqual((len(p), bridge.payload_seq(p)), (64, 70000))
        a = bridge.Arrivals()
        for seq in (1, 2, 2, 3):
            a.add(bridge.seq_payload(seq, 8))
        self.assertEqual((a.seen, a.repeats), ({1, 2, 3}, 1))

    def test_the_bridge_counters_are_read_from_sys_topics(self):
        payloads = {b"$SYS/broker/connection/up/queued": b"20000", b"$SYS/broker/connection/up/dropped": b"17",
                    b"$SYS/broker/connection/other/queued": b"5", b"$SYS/broker/connection/up/state": b"0",
                    b"$SYS/broker/connection/up/bogus": b"1", b"$SYS/broker/connection/up/sent": b"x"}
        self.assertEqual(bridge.connection_stats(payloads), {"queued": 20000, "dropped": 17, "state": 0})

    def test_the_cap_is_reached_at_the_first_drop(self):
        series = [{"t": t, "dropped": d} for t, d in [(1, None), (2, 5), (3, 5), (4, 9), (5, 30)]]
        self.assertEqual(bridge.cap_reached_at(series), 4)  # 5 were dropped before the outage
        self.assertIsNone(bridge.cap_reached_at(series[:3]))

    def test_rss_flat_after_the_cap_within_the_larger_tolerance(self):
        series = [{"t": t, "rss_kb": 4000 if t >= 20 else 3000 + 50 * t} for t in range(601)]
        v = bridge.rss_check(series, 20, 600, pct=5, kib=512)
        self.assertTrue(v["ok"], v)
        self.assertEqual((v["ref_kb"], v["peak_kb"], v["window_s"], v["allowed_kb"]), (4000, 4000, 30, 512))
        series[400]["rss_kb"] = 4600  # one transient sample beyond 512 KiB: reported, not failed
        v = bridge.rss_check(series, 20, 600, pct=5, kib=512)
        self.assertTrue(v["ok"], v)
        self.assertEqual(v["peak_kb"], 4600)
        for s in series[480:]:
            s["rss_kb"] = 4600  # a level beyond 512 KiB that stays fails it
        self.assertFalse(bridge.rss_check(series, 20, 600, pct=5, kib=512)["ok"])
        big = [{"t": t, "rss_kb": 100000 if t < 100 else 104000} for t in range(601)]
        self.assertTrue(bridge.rss_check(big, 0, 600, pct=5, kib=512)["ok"])  # 5 % of 100 MiB
        self.assertFalse(bridge.rss_check(big[:1], 0, 1, pct=5, kib=512)["ok"])  # no sample after

    def test_the_policy_names_which_messages_are_lost(self):
        # 1000 offered during the outage from #500, outbox 100: drop_oldest keeps #1400..#1499.
        oldest = list(range(500, 1400))
        self.assertTrue(bridge.policy_check("drop_oldest", oldest, 500, 1500, 100, 5)[0])
        self.assertFalse(bridge.policy_check("refuse_new", oldest, 500, 1500, 100, 5)[0])
        newest = list(range(600, 1500))
        self.assertTrue(bridge.policy_check("refuse_new", newest, 500, 1500, 100, 5)[0])
        self.assertFalse(bridge.policy_check("drop_oldest", newest, 500, 1500, 100, 5)[0])
        self.assertFalse(bridge.policy_check("drop_oldest", [3] + oldest, 500, 1500, 100, 5)[0])  # before
        self.assertFalse(bridge.policy_check("drop_oldest", [], 500, 1500, 100, 5)[0])  # no drop at all?

    def outage_run(self, **kw):
        o = {"t_cap": 20.0, "queued_max": 2000, "rss": {"ok": True, "ref_kb": 4000, "peak_kb": 4010, "end_kb": 4010,
                                                        "growth_kb": 10, "allowed_kb": 512},
             "peak_rss_kb": 4100, "offered_outage": 12000, "dropped": 10000, "lost_seqs": list(range(1000, 11000)),
             "seq_stop": 1000, "seq_end": 13000, "offered": 14000, "delivered": 4000, "drain_s": 3.0,
             "delivered_after": 2000}
        o.update(kw)
        return {name: ok for name, _m, _e, ok in bridge.outage_verdict(o, self.args(), 60 << 20)}

    def test_an_outage_passes_when_every_check_does(self):
        self.assertTrue(all(self.outage_run().values()))

    def test_an_outage_fails_on_each_broken_promise(self):
        for change, check in [({"queued_max": 2100}, "most messages queued"),
                              ({"dropped": 9000, "delivered": 5000}, "dropped (counted)"),
                              ({"delivered": 3990}, "acknowledged, not delivered, not counted"),
                              ({"drain_s": None}, "outbox drained after the upstream came back"),
                              ({"peak_rss_kb": 70000}, "peak RSS"),
                              ({"t_cap": None}, "outbox cap reached")]:
            verdict = self.outage_run(**change)
            self.assertFalse(verdict[check], change)

    def test_the_throughput_table_puts_sol_over_mosquitto(self):
        results = [{"broker": b, "scenario_name": "paced", "recv_rate": v, "cpu_s_per_m": c}
                   for b, v, c in [("sol", 9000, 4), ("sol", 10000, 5), ("sol", 9500, 6), ("mosquitto", 5000, 10)]]
        text = bridge.tp_table(results, ["paced"])
        row = next(line for line in text.splitlines() if "delivered upstream" in line)
        self.assertEqual(row.split()[-3:], ["9,500", "5,000", "1.9x"])
        row = next(line for line in text.splitlines() if "CPU s/M" in line)
        self.assertEqual(row.split()[-3:], ["5", "10", "0.5x"])
        self.assertNotIn("duplicates", text)  # no run measured them


class Storm(unittest.TestCase):
    def args(self, **kw):
        a = dict(threads=4, loopers=64, duration=10.0, rate=2000.0)
        a.update(kw)
        return types.SimpleNamespace(**a)

    def test_the_paced_cycle_differs_from_the_flood_only_by_its_rate(self):
        flood, paced = (storm.cycle_args(load, self.args()) for load in ("flood", "paced"))
        self.assertEqual(paced[:len(flood)], flood)
        self.assertEqual(paced[len(flood):], ["--rate", "2000"])
        self.assertEqual(flood[flood.index("--threads") + 1], "4")  # more generator threads than cores

    def test_cpu_per_thousand_cycles_is_the_window_cpu_over_the_cycles(self):
        r = storm.per_cycle({"broker_cpu_window_s": 1.5, "connects": 100000}, 10.0)
        self.assertAlmostEqual(r["cpu_s_per_1000"], 0.015)  # 15 µs per cycle
        self.assertEqual(r["broker_cpu_pct"], 15.0)
        self.assertNotIn("cpu_s_per_1000", storm.per_cycle({"broker_cpu_window_s": 1.0, "connects": 0}, 10.0))

    def test_the_cycle_table_puts_sol_over_mosquitto(self):
        results = [{"broker": b, "load": "paced", "cpu_s_per_1000": c}
                   for b, c in [("sol", 0.01), ("sol", 0.012), ("sol", 0.3), ("mosquitto", 0.02)]]
        text = storm.side_table(results, ["paced"], storm.CYCLE_METRICS, "load")
        row = next(line for line in text.splitlines() if "per 1,000 cycles" in line)
        self.assertEqual(row.split()[-3:], ["0.012", "0.02", "0.6x"])
        self.assertNotIn("cycles/s", text)  # no run measured it

    def test_with_the_null_broker_each_brokers_cpu_per_cycle_is_also_given_over_the_floor(self):
        results = [{"broker": b, "load": "paced", "cpu_s_per_1000": c, "connects_per_s": 2000}
                   for b, c in [("sol", 0.030), ("mosquitto", 0.050), ("null", 0.024)]]
        text = storm.side_table(results, ["paced"], storm.CYCLE_METRICS, "load")
        header = text.splitlines()[0].split()
        self.assertEqual(header[-4:], ["sol", "mosquitto", "null", "sol/mosquitto"])
        row = next(line for line in text.splitlines() if "cycles over the floor" in line)
        self.assertEqual(row.split()[-4:], ["0.006", "0.026", "0", "0.231x"])
        rate = next(line for line in text.splitlines() if "cycles/s" in line)
        self.assertNotIn("over the floor", rate)  # a floor only where FLOORED says

    def test_both_brokers_keep_sessions_on_disk_and_sol_has_room_for_all_of_them(self):
        sol = storm.resume_lines("sol", "/d", 5000)
        self.assertIn("persistence true", sol)
        self.assertIn("persistence_location /d", sol)
        for key in ("max_connections", "max_offline_sessions", "max_subscriptions"):
            value = next(int(x.split()[1]) for x in sol if x.startswith(key + " "))
            self.assertGreater(value, 5000, key)
        mosq = storm.resume_lines("mosquitto", "/d", 5000)
        self.assertIn("persistence_location /d/", mosq)
        self.assertFalse([x for x in mosq if x.startswith("max_")])  # Mosquitto's are unlimited
        self.assertNotIn("set_tcp_nodelay true", mosq)  # stock unless asked
        self.assertIn("set_tcp_nodelay true", storm.resume_lines("mosquitto", "/d", 5000, nodelay=True))
        self.assertNotIn("set_tcp_nodelay true", storm.resume_lines("sol", "/d", 5000, nodelay=True))

    def test_client_ids_fit_in_23_characters_and_differ_per_broker_and_repetition(self):
        ids = {storm.client_prefix(k, rep, pid=99999) for k in ("sol", "mosquitto") for rep in range(10)}
        self.assertEqual(len(ids), 20)
        for p in ids:
            self.assertLessEqual(len(p + "99999"), 23)
            self.assertRegex(p, r"^[A-Za-z0-9_-]+$")

    def test_the_listen_backlog_is_the_send_queue_of_the_listening_socket(self):
        out = "LISTEN 0      100        127.0.0.1:37317      0.0.0.0:*\n"
        self.assertEqual(storm.parse_backlog(out), 100)
        self.assertIsNone(storm.parse_backlog(""))

    def test_schedstat_gives_run_and_wait_times(self):
        self.assertEqual(storm.parse_schedstat("123456 7890 42\n"), (123456, 7890))

    def resume_run(self, n=500, **kw):
        r = {"broker": "sol", "concurrency": n,
             "prepare": {"offline": n, "acked": n, "errors": 0},
             "reconnect": {"connacks": n, "session_present": n, "queued_received": n, "live_received": n,
                           "errors": 0, "foreign": 0, "connect_to_last_connack_s": "0.3",
                           "connect_to_last_queued_s": "0.4", "handshake_p99_us": "2500.0"},
             "latency_during": {"errors": 0, "lost": 0, "lat_p99_us": "900.0"}, "log_problems": []}
        for k, v in kw.items():
            part, _, field = k.partition("__")
            if field:
                r[part][field] = v
            else:
                r[part] = v
        return {name: ok for name, ok, _detail in storm.resume_checks(r, n)}, r

    def test_a_resume_passes_when_every_session_comes_back_whole(self):
        checks, _ = self.resume_run()
        self.assertTrue(all(checks.values()), checks)

    def test_a_resume_fails_on_each_thing_lost(self):
        for change, check in [({"reconnect__session_present": 499}, "sessions kept"),
                              ({"reconnect__queued_received": 0}, "queued messages kept"),
                              ({"reconnect__live_received": 499}, "subscriptions kept"),
                              ({"reconnect__connacks": 499}, "clients back"),
                              ({"prepare__acked": 10}, "sessions prepared"),
                              ({"reconnect__errors": 1}, "no connection errors"),
                              ({"reconnect__foreign": 1}, "no connection errors"),
                              ({"log_problems": ["Error: store damaged"]}, "broker log clean"),
                              ({"latency_during__lost": 3}, "bystanders unharmed")]:
            checks, _ = self.resume_run(**change)
            self.assertFalse(checks[check], change)
            self.assertEqual(sum(not ok for ok in checks.values()), 1, change)

    def test_the_storm_must_end_inside_the_bystanders_window(self):
        _, r = self.resume_run()
        self.assertTrue(storm.storm_in_window(r, 0.5, 5.0))  # 0.5 + 0.4 s
        self.assertFalse(storm.storm_in_window(r, 4.7, 5.0))

    def test_a_resume_row_is_flattened_in_the_table_units(self):
        _, r = self.resume_run()
        f = storm.flatten(r)
        self.assertEqual((f["back_s"], f["queued_s"], f["hs_p99_ms"], f["lat1_p99"]), ("0.3", "0.4", 2.5, "900.0"))
        self.assertIsNone(f["lat0_p99"])  # no baseline in this run
        text = storm.side_table([f], [500], storm.RESUME_METRICS, "concurrency")
        self.assertIn("first connect to last CONNACK", text)


class Costs(unittest.TestCase):
    """compare.py --costs: each capability against plain 3.1.1, each broker against itself."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        self.sol = harness.SolBroker("sol", "/bin/true", self.tmp)
        self.mosquitto = harness.MosquittoBroker("mosquitto", "/bin/true", self.tmp)
        self.rumqttd = harness.RumqttdBroker("rumqttd", "/bin/true", self.tmp)

    def test_each_variant_runs_only_where_the_broker_has_it(self):
        had = {b.name: [v for v in costs.VARIANTS if costs.supports(b, v)]
               for b in (self.sol, self.mosquitto, self.rumqttd)}
        self.assertEqual(had["sol"], ["3.1.1", "mqtt5", "tls", "ws", "persist", "persist-sync"])
        # Debian's Mosquitto 2.0.11 has no WebSockets, and no acknowledge-after-sync mode.
        self.assertEqual(had["mosquitto"], ["3.1.1", "mqtt5", "tls", "persist"])
        self.assertEqual(had["rumqttd"], ["3.1.1"])
        nodelay = harness.MosquittoBroker("mosq-nodelay", "/bin/true", self.tmp, ["set_tcp_nodelay true"])
        self.assertTrue(costs.supports(nodelay, "persist"))  # by kind, not by name

    def test_persistence_variants_write_the_store_keys_into_the_brokers_config(self):
        sol = costs.conf_lines("sol", "persist", "/var/tmp/s")
        self.assertEqual(sol, ["persistence true", "persistence_location /var/tmp/s",
                               f"autosave_interval {costs.AUTOSAVE}"])
        self.assertEqual(costs.conf_lines("sol", "persist-sync", "/var/tmp/s"), sol + ["persistence_sync true"])
        self.assertIn("persistence_location /var/tmp/m/", costs.conf_lines("mosquitto", "persist", "/var/tmp/m"))
        for v in ("3.1.1", "mqtt5", "tls", "ws"):
            self.assertEqual(costs.conf_lines("sol", v, None), [])
        b = harness.SolBroker("sol", "/bin/true", self.tmp, costs.conf_lines("sol", "persist-sync", "/d"))
        with open(b.write_conf(0)) as f:
            self.assertIn("persistence_sync true\n", f.read())

    def test_only_the_mqtt5_variant_changes_the_clients_version(self):
        self.assertEqual(costs.gen_args("mqtt5"), ["--protocol", "5"])
        self.assertEqual([v for v in costs.VARIANTS if costs.gen_args(v)], ["mqtt5"])
        self.assertEqual([v for v in costs.VARIANTS if costs.VARIANTS[v].tls], ["tls"])
        self.assertEqual([v for v in costs.VARIANTS if costs.VARIANTS[v].ws], ["ws"])

    def test_the_order_alternates_between_repetitions(self):
        order = costs.schedule(["fanin-q0", "latency"], list(costs.VARIANTS), [self.sol, self.mosquitto], 2)
        first = [(v, b.name) for rep, load, v, b in order if rep == 0 and load == "latency"]
        second = [(v, b.name) for rep, load, v, b in order if rep == 1 and load == "latency"]
        self.assertEqual(first[0], ("3.1.1", "sol"))
        self.assertEqual(second, list(reversed(first)))
        self.assertEqual(len(first), 6 + 4)  # Sol's variants and Mosquitto's
        self.assertNotIn(("ws", "mosquitto"), first)

    def result(self, broker, load, variant, **fields):
        return dict(broker=broker, load=load, variant=variant, **fields)

    def test_each_broker_is_measured_against_its_own_plain_figure(self):
        results = ([self.result("sol", "fanin-q0", "3.1.1", recv_rate=v) for v in (1000, 3000, 2000)]
                   + [self.result("sol", "fanin-q0", "tls", recv_rate=1500),
                      self.result("mosquitto", "fanin-q0", "3.1.1", recv_rate=400),
                      self.result("mosquitto", "fanin-q0", "tls", recv_rate=300),
                      self.result("sol", "fanin-q0", "ws", recv_rate=1000)])
        text = costs.table(results, [self.sol, self.mosquitto], ["fanin-q0"], ["3.1.1", "tls", "ws", "persist"])
        lines = text.splitlines()
        self.assertEqual(lines[0].split(),
                         ["load", "metric", "variant", "sol", "mosquitto", "sol/3.1.1", "mosquitto/3.1.1"])
        # "fanin-q0  msg/s delivered (+)  VARIANT  sol  mosquitto  sol/3.1.1  mosquitto/3.1.1"
        rows = [line.split()[4:] for line in lines[2:]]
        self.assertEqual(rows, [["3.1.1", "2,000", "400", "base", "base"],
                                ["tls", "1,500", "300", "0.75x", "0.75x"],
                                ["ws", "1,000", "n/a", "0.5x", "n/a"]])  # persist: no figure, no row

    def test_a_ratio_needs_both_figures_and_a_nonzero_base(self):
        self.assertEqual(costs.ratio(3.0, 2.0), "1.5x")
        self.assertEqual(costs.ratio(0.0, 0.0), "-")  # lost 0 against lost 0
        self.assertEqual(costs.ratio(None, 2.0), "-")
        self.assertEqual(costs.ratio(1.0, None), "-")

    def test_failed_runs_are_reported_and_the_others_kept(self):
        def run(b, load, variant):
            if variant == "tls" and b.name == "mosquitto":
                raise RuntimeError("no handshake")
            return {"recv_rate": 10}
        out = []
        results, failures = costs.measure(run, ["fanin-q0"], ["3.1.1", "tls"], [self.sol, self.mosquitto], 3,
                                          out.append)
        self.assertEqual(len(results), 9)
        self.assertEqual(len(failures), 3)
        self.assertIn("fanin-q0, tls on mosquitto: no handshake", failures[0])
        self.assertEqual({(r["broker"], r["variant"]) for r in results if r["repeat"] == 2},
                         {("sol", "3.1.1"), ("sol", "tls"), ("mosquitto", "3.1.1")})

    def test_paced_runs_that_lost_or_fell_behind_are_listed(self):
        ok = self.result("sol", "fanin-q1", "tls", repeat=0, lost=0, send_rate=20000, recv_rate=19990)
        lossy = self.result("mosquitto", "fanin-q1", "persist", repeat=1, lost=12, send_rate=20000,
                            recv_rate=19990)
        slow = self.result("sol", "latency", "ws", repeat=0, lost=0, send_rate=15000, recv_rate=15000)
        flood = self.result("sol", "fanin-q0", "3.1.1", repeat=0, lost=5000, send_rate=1, recv_rate=1)
        listed = costs.not_at_rate([ok, lossy, slow, flood], {"fanin-q1": 20000, "latency": 20000})
        self.assertEqual(len(listed), 2)
        self.assertTrue(listed[0].startswith("fanin-q1, persist #2 on mosquitto"))
        self.assertTrue(listed[1].startswith("latency, ws #1 on sol: sent 15,000/s"))

    def test_the_table_goes_into_the_costs_block_with_the_runs_that_missed_their_rate(self):
        path = os.path.join(self.tmp, "perf.md")
        with open(path, "w") as f:
            f.write("# Perf\n\n<!-- compare.py begin costs -->\nold\n<!-- compare.py end costs -->\n\ntail\n")
        args = types.SimpleNamespace(write_docs=path, docs_block=None)
        with open(os.devnull, "w") as null, contextlib.redirect_stdout(null):
            status = compare.report(args, "TABLE\n", "costs", [], ["latency, ws #1 on sol"], "missed")
            failed = compare.report(types.SimpleNamespace(write_docs=None), "T", "costs", ["x"], [], "")
        with open(path) as f:
            text = f.read()
        self.assertEqual((status, failed), (0, 1))
        self.assertIn("TABLE\n\nmissed:\n  latency, ws #1 on sol\n```\n<!-- compare.py end costs -->\n\ntail", text)
        self.assertNotIn("old", text)
        self.assertIn("benches/compare.py ", text)  # the command heads it

    def test_paced_loads_write_like_a_client_library_and_floods_batch(self):
        args = types.SimpleNamespace(costs_q1_rate=20000.0, idle_connections=1000, idle_hold=4.0)
        loads = compare.cost_loads(args)
        self.assertEqual(list(loads), list(costs.LOAD_METRICS))
        q1 = loads["fanin-q1"][0]
        self.assertEqual(q1[q1.index("--rate") + 1], "20000")
        self.assertEqual(q1[q1.index("--qos") + 1], "1")
        for paced in ("fanin-q1", "latency"):
            self.assertIn("single", loads[paced][0])
        for flood in ("fanin-q0", "fanout-q0"):
            self.assertNotIn("--rate", loads[flood][0])
            self.assertNotIn("--write-mode", loads[flood][0])
        self.assertEqual(loads["idle-rss"][0][0], "idle")


class Instructions(unittest.TestCase):
    def test_the_figure_is_the_difference_of_two_runs_per_unit(self):
        # 10 M instructions of start-up and shutdown in both runs cancel.
        short = (10_000_000 + 20_000 * 4_000, 20_000)
        long = (10_000_000 + 40_000 * 4_000, 40_000)
        self.assertEqual(instructions.per_unit(short, long), 4_000)
        self.assertEqual(instructions.per_unit((100, 10), (250, 40)), 5)

    def test_no_more_units_in_the_long_run_is_refused(self):
        with self.assertRaises(ValueError):
            instructions.per_unit((100, 10), (200, 10))
        with self.assertRaises(ValueError):
            instructions.per_unit((100, 10), (200, 9))

    def test_spread_is_the_range_over_the_median(self):
        self.assertAlmostEqual(instructions.spread([4900, 5000, 5100]), 0.04)
        self.assertEqual(instructions.spread([5000]), 0.0)

    def test_a_summary_keeps_the_runs_and_why_others_were_rejected(self):
        s = instructions.summary([4900.04, 5000, 5100], ["mosquitto issue-q1 8 s rejected: 95 messages lost"])
        self.assertEqual((s["figures"], s["median"], s["max"], s["spread"]), ([4900.0, 5000, 5100], 5000, 5100, 0.04))
        self.assertEqual(len(s["rejected"]), 1)
        s = instructions.summary([], ["lost"])
        self.assertIsNone(s["median"])
        self.assertIsNone(s["max"])
        self.assertNotIn("rejected", instructions.summary([5000]))

    def test_callgrinds_collected_line_is_read_from_the_log(self):
        log = ("==8695== Callgrind, a call-graph generating cache profiler\n"
               "1796585656: listening on 127.0.0.1:49391\n"
               "==9193== Events    : Ir\n==9193== Collected : 51270870\n==9193== \n"
               "==9193== I   refs:      51,270,870\n")
        self.assertEqual(instructions.parse_collected(log), 51270870)
        self.assertIsNone(instructions.parse_collected("==1== Callgrind\nkilled\n"))

    def test_the_totals_line_of_the_output_file_is_read(self):
        out = "version: 1\ncreator: callgrind-3.19.0\nevents: Ir\nsummary: 51270870\n\nfn=(1)\n0 5\ntotals: 51270871\n"
        self.assertEqual(instructions.parse_totals(out), 51270871)
        self.assertEqual(instructions.parse_totals("events: Ir\nsummary: 42\n"), 42)
        self.assertIsNone(instructions.parse_totals("events: Ir\n"))

    def test_growth_up_to_five_percent_passes_and_beyond_fails(self):
        base = {"fanin-q0": 4000, "fanin-q1": 6000, "connect": 12000}
        rows, ok = instructions.compare({"fanin-q0": 4199, "fanin-q1": 6000, "connect": 11000}, base)
        self.assertTrue(ok, rows)
        rows, ok = instructions.compare({"fanin-q0": 4201, "fanin-q1": 6000, "connect": 12000}, base)
        self.assertFalse(ok)
        verdicts = {name: verdict for name, _b, _n, _r, verdict in rows}
        self.assertTrue(verdicts["fanin-q0"].startswith("FAIL: +5.0 %"), verdicts)
        self.assertEqual(verdicts["fanin-q1"], "ok")

    def test_a_drop_passes_and_asks_for_an_update(self):
        rows, ok = instructions.compare({"fanin-q0": 3000}, {"fanin-q0": 4000})
        self.assertTrue(ok)
        self.assertIn("--update", rows[0][4])

    def test_a_workload_missing_from_the_baseline_fails(self):
        rows, ok = instructions.compare({"fanout-q1": 2000}, {"fanin-q0": 4000})
        self.assertFalse(ok)
        self.assertIn("not in the baseline", rows[0][4])

    def test_the_committed_baseline_has_every_checked_workload(self):
        with open(instructions.BASELINE) as f:
            base = json.load(f)
        self.assertEqual(set(base["figures"]), set(instructions.CHECK_WORKLOADS))
        for key in ("date", "command", "commit", "machine"):
            self.assertIn(key, base)

    def load(self, paced, **kw):
        load = {"errors": 0, "lost": 0, "sent": paced, "expected": paced, "received": paced,
                "received_in_window": paced - 10}
        load.update(kw)
        return load

    def test_a_run_that_lost_or_fell_behind_is_rejected(self):
        w = instructions.WORKLOADS["fanin-q0"]
        n = int(w.rate * 4)  # what 4 s at the paced rate send
        self.assertEqual(instructions.load_problems(w, self.load(n), 4.0), [])
        self.assertTrue(instructions.load_problems(w, self.load(n, lost=1, received=n - 1), 4.0))
        self.assertTrue(instructions.load_problems(w, self.load(n, errors=2), 4.0))
        # Delivered in the end, but not while publishing: the broker fell behind.
        self.assertTrue(instructions.load_problems(w, self.load(n, received_in_window=n * 3 // 4), 4.0))
        # sol-load itself did not send at the rate asked.
        short = n * 3 // 4
        self.assertTrue(instructions.load_problems(w, self.load(n, sent=short, expected=short, received=short,
                                                                 received_in_window=short), 4.0))

    def test_fan_out_counts_deliveries_and_a_storm_counts_cycles(self):
        fanout = instructions.WORKLOADS["fanout-q0"]
        self.assertEqual(fanout.units({"received": 20000, "sent": 2000}), 20000)
        storm = instructions.WORKLOADS["connect"]
        self.assertEqual(storm.units({"connects": 800, "received": 0}), 800)
        paced = int(storm.rate * 4)
        self.assertEqual(instructions.load_problems(storm, {"errors": 0, "connects": paced}, 4.0), [])
        self.assertTrue(instructions.load_problems(storm, {"errors": 0, "connects": paced // 2}, 4.0))
        self.assertTrue(instructions.load_problems(storm, {"errors": 1, "connects": paced}, 4.0))

    def test_each_workload_is_paced_and_timed_by_its_duration(self):
        for w in instructions.WORKLOADS.values():
            cmd = w.command(4.0)
            self.assertEqual(cmd[cmd.index("--rate") + 1], str(w.rate), w.name)
            self.assertEqual(cmd[cmd.index("--duration") + 1], "4.0", w.name)

    def test_brokers_run_under_callgrind_stay_root_to_write_its_file_and_skip_sys(self):
        with tempfile.TemporaryDirectory() as tmp:
            for cls in (instructions.SolCallgrind, instructions.MosquittoCallgrind):
                b = cls("b", "/bin/broker", tmp)
                b.out = os.path.join(tmp, "cg.out")
                cmd = b._command("b.conf")
                self.assertEqual(cmd[:3], ["valgrind", "--tool=callgrind", f"--callgrind-out-file={b.out}"])
                self.assertEqual(cmd[3:], ["/bin/broker", "-c", "b.conf"])
                with open(b.write_conf(1883)) as f:
                    conf = f.read().splitlines()
                for line in ("user root", "sys_interval 0", "allow_anonymous true",
                             f"max_inflight_messages {harness.INFLIGHT}", "connection_messages false"):
                    self.assertIn(line, conf, cls.__name__)

    ANNOTATE = """--------------------------------------------------------------------------------
Ir                   file:function
--------------------------------------------------------------------------------
150,864,749 (100.0%)  PROGRAM TOTALS

--------------------------------------------------------------------------------
Ir                  file:function
--------------------------------------------------------------------------------
6,218,469 ( 4.12%)  /rustc/abc/library/alloc/src/vec/mod.rs:sol::net::write::<impl sol::net::Server>::flush
5,442,007 ( 3.61%)  /work/src/net/write.rs:sol::net::write::<impl sol::net::Server>::flush [/work/target/profiling/sol]
2,050,620 ( 1.36%)  ./string/../sysdeps/x86_64/multiarch/memmove-vec-unaligned-erms.S:__memcpy_avx_unaligned_erms [/usr/lib/x86_64-linux-gnu/libc.so.6]
   12,000 ( 0.01%)  ???:0x000000000001a2b0 [/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2]
"""

    def test_annotate_output_is_summed_per_function(self):
        per = instructions.parse_annotate(self.ANNOTATE)
        self.assertEqual(per, {"sol::net::write::<impl sol::net::Server>::flush": 6218469 + 5442007,
                               "__memcpy_avx_unaligned_erms": 2050620,
                               "0x000000000001a2b0": 12000})
        per_file = instructions.parse_annotate(self.ANNOTATE, by="file")
        self.assertEqual(per_file["/work/src/net/write.rs"], 5442007)
        self.assertEqual(per_file["/rustc/abc/library/alloc/src/vec/mod.rs"], 6218469)

    def test_the_breakdown_ranks_functions_by_their_growth_per_unit(self):
        short = {"flush": 1000, "decode": 500, "startup": 9000}
        long = {"flush": 21000, "decode": 10500, "startup": 9000, "late": 100}
        rows, rest = instructions.breakdown(short, long, 10, 2)
        self.assertEqual(rows, [("flush", 2000.0), ("decode", 1000.0)])
        self.assertEqual(rest, 10.0)  # "late" 10 per unit, "startup" 0

    def test_kept_callgrind_files_are_copied_where_asked_under_their_names(self):
        with tempfile.TemporaryDirectory() as tmp:
            runs = os.path.join(tmp, "runs")
            os.makedirs(runs)
            paths = []
            for name in ("sol-fanin-q0-2.0.callgrind", "sol-fanin-q0-6.1.callgrind"):
                paths.append(os.path.join(runs, name))
                with open(paths[-1], "w") as f:
                    f.write(f"totals: {len(paths)}\n")
            kept = os.path.join(tmp, "kept", "here")
            with contextlib.redirect_stdout(io.StringIO()) as out:
                instructions.keep_files(paths, kept)
            self.assertEqual(sorted(os.listdir(kept)), ["sol-fanin-q0-2.0.callgrind", "sol-fanin-q0-6.1.callgrind"])
            with open(os.path.join(kept, "sol-fanin-q0-6.1.callgrind")) as f:
                self.assertEqual(f.read(), "totals: 2\n")
            self.assertIn("kept " + os.path.join(kept, "sol-fanin-q0-2.0.callgrind"), out.getvalue())


if __name__ == "__main__":
    unittest.main()
