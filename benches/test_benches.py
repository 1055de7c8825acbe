"""Unit tests of the benchmark scripts' own logic (no broker needed):
`python3 -m unittest discover -s benches` (CI runs it before `compare.py --smoke`)."""

import os
import sys
import tempfile
import threading
import time
import types
import unittest
import xml.dom.minidom

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import compare  # noqa: E402
import harness  # noqa: E402
import persistence  # noqa: E402
import scaling  # noqa: E402
import soak  # noqa: E402

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

    def test_no_ratios_without_sol(self):
        text = compare.table(self.results(), ["mosquitto"], ["fanin-q1"])
        self.assertNotIn("sol/", text)


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

    def test_cpu_of_a_running_thread_is_counted(self):
        stop = threading.Event()

        def spin():
            while not stop.is_set():
                pass

        t = threading.Thread(target=spin)
        before = harness.proc_sample(os.getpid())["cpu"]
        t.start()
        time.sleep(0.3)  # the main thread sleeps; only the spinning thread runs
        during = harness.proc_sample(os.getpid())["cpu"]
        stop.set()
        t.join()
        self.assertGreater(during - before, 0.1)


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


if __name__ == "__main__":
    unittest.main()
