"""veil.Client against real veil-server and veil-dealer processes on loopback, checked
against the veil-client command on the same inputs (same state folder, same server)."""

import numpy as np
import pytest

import veil
from conftest import (cli_error, cli_infer, sample, start_server, veil_client,
                      wait_gone)

# models/samples/README.md: the labels of the shipped samples.
LABELS = [7, 2, 1, 0, 4]


def test_one_session_answers_many_queries_as_the_command_does(binaries, server, home):
    with veil.Client(server) as client:
        answers = [client.infer(np.load(sample(i))) for i in range(3)]
    for i, answer in enumerate(answers):
        cli = cli_infer(binaries, home, server, sample(i))
        assert set(answer) == set(cli)
        assert answer["label"] == cli["label"] == LABELS[i]
        # Both are exact (fixed point, secret-shared): the logits agree bit for bit.
        assert answer["logits"] == cli["logits"]
        assert (answer["model"], answer["backend"], answer["dealer"]) == ("mnist-mlp", "gmw", True)
        assert answer["precomputed"] is False
        assert answer["online"]["bytes"] == cli["online"]["bytes"]
        assert answer["online"]["rounds"] == cli["online"]["rounds"]
    # Setup is the session's, paid once: with the first query, zero afterwards.
    assert answers[0]["setup"]["bytes"] == cli["setup"]["bytes"] > 0
    for later in answers[1:]:
        assert later["setup"] == {"bytes": 0, "rounds": 0, "ms": 0.0}
        assert later["wire_bytes"] < answers[0]["wire_bytes"]


def test_float64_and_any_shape_with_as_many_elements(server, home):
    image = np.load(sample(1))
    with veil.Client(server) as client:
        as_f64 = client.infer(image.astype(np.float64).reshape(28, 28))
        as_f32 = client.infer(image.ravel())
    assert as_f64["label"] == as_f32["label"] == LABELS[1]
    assert as_f64["logits"] == as_f32["logits"]


def test_a_wrong_shape_is_refused_as_the_command_refuses_it(binaries, server, home, tmp_path):
    bad = np.zeros(100, dtype=np.float32)
    path = tmp_path / "bad.npy"
    np.save(path, bad)
    code, message = cli_error(binaries, home, "infer", "--server", server, "--input", str(path))
    assert code == 2
    with veil.Client(server) as client:
        with pytest.raises(veil.UsageError) as refused:
            client.infer(bad)
        assert str(refused.value) == message
        assert "expected 784 values" in message
        # The refusal is no query: the session's setup comes with the first answer.
        answers = [client.infer(np.load(sample(i))) for i in range(2)]
    assert [a["label"] for a in answers] == LABELS[:2]
    assert answers[0]["setup"]["bytes"] > 0
    assert answers[1]["setup"]["bytes"] == 0


def test_values_outside_the_range_and_other_dtypes_are_refused(server, home):
    with veil.Client(server) as client:
        with pytest.raises(veil.UsageError, match="outside the model's input range"):
            client.infer(np.full(784, 1e6, dtype=np.float32))
        with pytest.raises(veil.UsageError, match="not a finite number"):
            client.infer(np.full(784, np.nan, dtype=np.float32))
        with pytest.raises(veil.UsageError, match="expected little-endian float32 or float64"):
            client.infer(np.zeros(784, dtype=np.int64))


def test_an_unknown_model_is_refused_as_the_command_refuses_it(binaries, server, home):
    code, message = cli_error(binaries, home, "infer", "--server", server,
                              "--input", str(sample(0)), "--model", "no-such-model")
    assert code == 2
    with pytest.raises(veil.UsageError) as refused:
        veil.Client(server, model="no-such-model")
    assert str(refused.value) == message
    assert "no-such-model" in message


def test_a_dealer_the_server_cannot_use_is_refused(binaries, dealer, home, tmp_path_factory):
    free = start_server(binaries, tmp_path_factory.mktemp("free-home"))
    try:
        code, message = cli_error(binaries, home, "infer", "--server", free.addr,
                                  "--input", str(sample(0)), "--dealer", dealer)
        assert code == 2
        with pytest.raises(veil.UsageError) as refused:
            veil.Client(free.addr, dealer=dealer)
        assert str(refused.value) == message
    finally:
        free.stop()


def test_a_dealer_free_server_answers_too(binaries, home, tmp_path_factory):
    free = start_server(binaries, tmp_path_factory.mktemp("free-home"))
    try:
        with veil.Client(free.addr) as client:
            answers = [client.infer(np.load(sample(i))) for i in (3, 4)]
        cli = cli_infer(binaries, home, free.addr, sample(4))
    finally:
        free.stop()
    assert [a["label"] for a in answers] == LABELS[3:5]
    assert answers[1]["logits"] == cli["logits"]
    assert answers[0]["dealer"] is False and cli["dealer"] is False
    assert (answers[0]["linear"], answers[0]["ot"]) == (cli["linear"], cli["ot"])
    # Dealer-free setup (base OTs, the RLWE key) is paid once too.
    assert answers[0]["setup"]["bytes"] > 0
    assert answers[1]["setup"]["bytes"] == 0


def test_a_server_that_is_gone_is_a_peer_error(binaries, home, tmp_path_factory):
    p = start_server(binaries, tmp_path_factory.mktemp("gone-home"))
    client = veil.Client(p.addr)
    assert client.infer(np.load(sample(0)))["label"] == LABELS[0]
    p.stop()
    wait_gone(p.proc)
    with pytest.raises(veil.PeerError):
        client.infer(np.load(sample(0)))
    # The failed query ended the session; a new one cannot be opened either.
    with pytest.raises(veil.PeerError) as unreachable:
        client.infer(np.load(sample(0)))
    client.close()
    code, message = cli_error(binaries, home, "infer", "--server", p.addr,
                              "--input", str(sample(0)))
    assert code == 1
    assert str(unreachable.value) == message


def test_precomputed_queries_are_spent_first(binaries, server, home):
    with veil.Client(server) as client:
        made = client.precompute(2)
        assert (made["queries"], made["waiting"]) == (2, 2)
        assert made["model"] == "mnist-mlp" and made["dealer"] is True
        # The session's setup was paid by precompute, on the session it opened.
        assert made["setup"]["bytes"] > 0 and made["offline"]["bytes"] > 0
        answers = [client.infer(np.load(sample(i))) for i in range(3)]
    assert [a["precomputed"] for a in answers] == [True, True, False]
    assert [a["label"] for a in answers] == LABELS[:3]
    assert all(a["setup"]["bytes"] == 0 for a in answers)
    # The command sees the same (empty) store: none is left for it to spend.
    assert cli_infer(binaries, home, server, sample(0))["precomputed"] is False


def test_precompute_needs_one_query_or_more(server, home):
    with veil.Client(server) as client:
        with pytest.raises(veil.UsageError, match="1 or more"):
            client.precompute(0)


def test_a_closed_client_refuses_queries(server, home):
    client = veil.Client(server)
    client.close()
    with pytest.raises(veil.UsageError, match="closed"):
        client.infer(np.load(sample(0)))


def test_an_unknown_backend_is_refused(server, home):
    with pytest.raises(veil.UsageError, match="unknown backend"):
        veil.Client(server, backend="nope")


def test_errors_are_veil_errors():
    assert issubclass(veil.UsageError, veil.VeilError)
    assert issubclass(veil.PeerError, veil.VeilError)
    assert not issubclass(veil.UsageError, veil.PeerError)


def test_label_only_answers_have_the_label_and_no_logits(server, home):
    with veil.Client(server) as client:
        answer = client.infer(np.load(sample(0)), label_only=True)
        assert answer["label"] == LABELS[0]
        assert "logits" not in answer
        assert answer["layers"][-1]["kind"] == "argmax"
        # The same client asks for logits again: a session of its own kind.
        plain = client.infer(np.load(sample(0)))
        assert plain["label"] == LABELS[0] and len(plain["logits"]) == 10
        made = client.precompute(2, label_only=True)
        assert made["waiting"] == 2
        kept = client.infer(np.load(sample(1)), label_only=True)
        assert kept["precomputed"] and kept["label"] == LABELS[1] and "logits" not in kept

