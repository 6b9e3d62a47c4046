#!/usr/bin/env python
"""seqnet's CharRNN against the same character model in PyTorch, for the
same wall-clock budget: validation loss over time and characters/s.

Both sides train the same model on the same data in the same order:

- a stack of ``--layers`` recurrent layers of ``--hidden`` units (LSTM or
  GRU), one-hot input over the training text's characters, a linear output
  layer and softmax cross-entropy at every step, averaged over the chunk's
  characters;
- tinyshakespeare (``seqnet.datasets.load_shakespeare()``): the first 90 %
  to train on, the last 10 % held out;
- 32 parallel streams (the training text cut into 32 contiguous stretches,
  exactly as CharRNN cuts it: the torch side uses the same ``_Streams``),
  truncated BPTT chunks of 64 steps, the state carried from chunk to chunk
  and restarted at zero at every pass over the text;
- Adam, learning rate 2e-3 (betas 0.9/0.999, eps 1e-8), gradient clipped
  to global norm 5; the same thread count; float32;
- the same initial weights: seqnet's initialisation copied into the torch
  modules (``--torch-init default`` keeps PyTorch's own instead).

seqnet trains through ``CharRNN.fit(train_text)`` with ``max_time`` set to
the budget: its own loop, untouched, except that the estimator's ``_step``
(one update per chunk) is wrapped to copy the parameters each time a
checkpoint (every ``--every`` seconds of training) has passed.  PyTorch
runs the equivalent loop written out below, copying its state_dict at the
same checkpoints.  The two runs go one after the other, each for
``--minutes``.  Only then is every copy evaluated, so evaluation takes no
training time: the validation loss is the mean negative log-likelihood per
character (nats) over the held-out text, read as 32 streams with the state
carried (CharRNN's ``_run_streams``; the torch side follows the same chunks).

Run from the repository root after ``pip install .`` and
``pip install torch==2.13.0``::

    python bench/charlm_vs_torch.py                   # 3 + 3 minutes
    python bench/charlm_vs_torch.py --quick           # 30 s each, smoke run
                                                      # (~2 min in all)
    python bench/charlm_vs_torch.py --minutes 5 --threads 1 --cell gru
"""
import argparse
import os
import sys
import time
import warnings

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _ROOT]

import numpy as np  # noqa: E402

# torch before seqnet: the process loads one libgomp.so.1, and this way it
# is the one PyTorch ships with (seqnet runs on it too; see compare_torch.py
# --openmp).
try:
    import torch
except ImportError:
    torch = None
import seqnet  # noqa: E402
from seqnet import CharRNN  # noqa: E402
from seqnet._base import _Run  # noqa: E402
from seqnet._network import Network  # noqa: E402
from seqnet.datasets import load_shakespeare  # noqa: E402
from seqnet.text import _Streams  # noqa: E402
from sklearn.utils import check_random_state  # noqa: E402

N_STREAMS = 32
BPTT = 64
LEARNING_RATE = 2e-3
CLIP_NORM = 5.0
VALIDATION_FRACTION = 0.1

# The plain PyTorch recipe of shared/data/README.md (2-layer LSTM of 256,
# 2 threads): about 28k characters/s, validation loss 1.82 after 1 minute,
# 1.55 after 3 and 1.52 after 4.5.
README_REFERENCE = "~28k chars/s; 1.82 @ 60 s, 1.55 @ 180 s, 1.52 @ 270 s"


def _loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


class Checkpoints:
    """Copies of the parameters each time ``every`` seconds have passed."""

    def __init__(self, every):
        self.every = every
        self.next = every
        self.snaps = []       # (seconds, characters, copy of the weights)

    def due(self, t):
        return t >= self.next

    def add(self, t, chars, weights):
        self.snaps.append((t, chars, weights))
        while self.next <= t:
            self.next += self.every


# ------------------------------------------------------------------ seqnet

def seqnet_model(args, budget):
    return CharRNN(cell=args.cell, hidden_sizes=(args.hidden,) * args.layers,
                   optimizer="adam", learning_rate=LEARNING_RATE,
                   batch_size=N_STREAMS, tbptt_length=BPTT,
                   clip_norm=CLIP_NORM, max_epochs=10**6,
                   n_iter_no_change=10**9, max_time=budget,
                   n_jobs=args.threads, random_state=args.seed)


def seqnet_initial_weights(args, vocab_size):
    """The weights CharRNN.fit starts from, made the way the shared _fit
    makes them (checked against the real ones when seqnet runs)."""
    rng = check_random_state(args.seed)
    net = Network(args.cell, (args.hidden,) * args.layers, False, False,
                  "tanh", vocab_size, vocab_size, np.float32)
    net.initialize(np.random.default_rng(rng.randint(2**31)), 1.0)
    return net


def train_seqnet(model, train_text, every):
    """fit() with max_time; returns (checkpoints, seconds, chars, cpu s,
    the parameters at the first update)."""
    marks = Checkpoints(every)
    seen = {"chars": 0, "initial": None}
    real_step = model._step   # the bound method fit would call

    def step(run, x, lengths, tgt, w, initial=None):
        if seen["initial"] is None:
            seen["initial"] = model._net.params.copy()
            marks.add(0.0, 0, seen["initial"])
        out = real_step(run, x, lengths, tgt, w, initial=initial)
        seen["chars"] += int(lengths.sum())
        t = time.perf_counter() - t0
        if marks.due(t):
            marks.add(t, seen["chars"], model._net.params.copy())
        return out

    model._step = step
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    try:
        model.fit(train_text)
    finally:
        del model._step
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    marks.add(seconds, seen["chars"], model._net.params.copy())
    return marks, seconds, seen["chars"], cpu, seen["initial"]


def evaluate_seqnet(model, params, val_codes, n_threads):
    model._net.params[...] = params
    run = _Run(model, model.tbptt_length, N_STREAMS, False, n_threads)
    loss, _ = model._run_streams([val_codes], N_STREAMS, run)
    return loss


# ------------------------------------------------------------------- torch

def torch_model(torch, args, V, init_net):
    nn = torch.nn

    class CharModel(nn.Module):
        def __init__(self):
            super().__init__()
            rnn = nn.LSTM if args.cell == "lstm" else nn.GRU
            self.rnn = rnn(V, args.hidden, num_layers=args.layers)
            self.head = nn.Linear(args.hidden, V)

        def forward(self, x, state):
            out, state = self.rnn(x, state)
            return self.head(out), state

    model = CharModel()
    if init_net is not None:
        H = args.hidden
        with torch.no_grad():
            for layer in range(args.layers):
                P = init_net.layer_params(layer, 0)
                rnn = model.rnn
                getattr(rnn, f"weight_ih_l{layer}").copy_(
                    torch.from_numpy(P["W"].T.copy()))
                getattr(rnn, f"weight_hh_l{layer}").copy_(
                    torch.from_numpy(P["U"].T.copy()))
                getattr(rnn, f"bias_ih_l{layer}").copy_(
                    torch.from_numpy(P["b"]))
                bias_hh = getattr(rnn, f"bias_hh_l{layer}")
                bias_hh.zero_()
                if args.cell == "gru":   # seqnet's bh is PyTorch's b_hn
                    bias_hh[2 * H:].copy_(torch.from_numpy(P["bh"]))
            model.head.weight.copy_(
                torch.from_numpy(init_net.views["output.V"].T.copy()))
            model.head.bias.copy_(
                torch.from_numpy(init_net.views["output.c"]))
    return model


class TorchRunner:
    """The CharRNN loop for the torch model: the same streams and chunks."""

    def __init__(self, torch, model, args, V):
        self.torch, self.model, self.args, self.V = torch, model, args, V
        self.lstm = args.cell == "lstm"

    def _new_state(self, n):
        zeros = self.torch.zeros(self.args.layers, n, self.args.hidden)
        return [zeros, zeros.clone()]

    def _chunk(self, streams, state, length):
        """The next chunk's one-hot inputs, targets, valid mask, rows and
        initial state; None at the end of the text."""
        torch = self.torch
        idx, starts, counts = streams.next_chunk(length)
        if len(idx) == 0:
            return None
        restart = streams.reset[idx]
        if restart.any():
            rows = torch.from_numpy(idx[restart])
            for s in state:
                s[:, rows] = 0
        streams.reset[idx] = False
        T = int(counts.max())
        valid = np.arange(T)[:, None] < counts[None, :]
        at = np.where(valid, starts[None, :] + np.arange(T)[:, None],
                      starts[None, :])
        inp = torch.from_numpy(streams.codes[at])
        tgt = torch.from_numpy(streams.codes[at + valid])
        x = torch.zeros(T, len(idx), self.V)
        x.scatter_(2, inp.unsqueeze(2), 1.0)
        rows = torch.from_numpy(idx)
        h0 = [s[:, rows] for s in state]
        h0 = tuple(h0) if self.lstm else h0[0]
        mask = None if valid.all() else torch.from_numpy(valid)
        return x, tgt, mask, rows, h0, int(counts.sum())

    def _loss(self, logits, tgt, mask):
        F = self.torch.nn.functional
        flat = logits.reshape(-1, self.V)
        if mask is None:
            return F.cross_entropy(flat, tgt.reshape(-1))
        each = F.cross_entropy(flat, tgt.reshape(-1), reduction="none")
        m = mask.reshape(-1).to(each.dtype)
        return (each * m).sum() / m.sum()

    def _keep(self, state, rows, new):
        new = new if self.lstm else (new,)
        for s, n in zip(state, new):
            s[:, rows] = n.detach()

    def train(self, train_text, lookup, budget, every):
        """Train for ``budget`` seconds; returns (checkpoints, seconds,
        chars, cpu s)."""
        torch = self.torch
        marks = Checkpoints(every)
        marks.add(0.0, 0, self._snapshot())
        opt = torch.optim.Adam(self.model.parameters(), lr=LEARNING_RATE,
                               betas=(0.9, 0.999), eps=1e-8)
        params = list(self.model.parameters())
        cpu0 = time.process_time()
        t0 = time.perf_counter()
        # Encoding is inside the budget, as it is inside CharRNN.fit.
        codes = np.array([lookup[ch] for ch in train_text], np.int64)
        chars, done = 0, False
        while not done:
            streams = _Streams([codes], N_STREAMS)
            state = self._new_state(len(streams.pos))
            while True:
                chunk = self._chunk(streams, state, BPTT)
                if chunk is None:
                    break
                x, tgt, mask, rows, h0, n = chunk
                logits, new = self.model(x, h0)
                loss = self._loss(logits, tgt, mask)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, CLIP_NORM)
                opt.step()
                self._keep(state, rows, new)
                chars += n
                t = time.perf_counter() - t0
                if marks.due(t):
                    marks.add(t, chars, self._snapshot())
                if t >= budget:
                    done = True
                    break
        seconds = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        marks.add(seconds, chars, self._snapshot())
        return marks, seconds, chars, cpu

    def _snapshot(self):
        return {k: v.detach().clone()
                for k, v in self.model.state_dict().items()}

    def evaluate(self, snapshot, val_codes):
        """Mean NLL per character over the held-out codes, read as the same
        streams and chunks CharRNN._run_streams uses."""
        torch = self.torch
        self.model.load_state_dict(snapshot)
        F = torch.nn.functional
        streams = _Streams([val_codes], N_STREAMS)
        state = self._new_state(len(streams.pos))
        total, count = 0.0, 0
        with torch.no_grad():
            while True:
                chunk = self._chunk(streams, state, BPTT)
                if chunk is None:
                    break
                x, tgt, mask, rows, h0, n = chunk
                logits, new = self.model(x, h0)
                each = F.cross_entropy(logits.reshape(-1, self.V),
                                       tgt.reshape(-1), reduction="none")
                if mask is not None:
                    each = each * mask.reshape(-1).to(each.dtype)
                total += float(each.sum(dtype=torch.float64))
                count += n
                self._keep(state, rows, new)
        return total / count


# -------------------------------------------------------------------- main

def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=None,
                        help="training budget of each side (default 3; "
                        "--quick 0.5)")
    parser.add_argument("--every", type=float, default=None,
                        help="seconds between checkpoints (default 30; "
                        "--quick 10)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--cell", choices=("lstm", "gru"), default="lstm")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--order", choices=("seqnet-first", "torch-first"),
                        default="seqnet-first")
    parser.add_argument("--torch-init", choices=("same", "default"),
                        default="same",
                        help="torch starts from seqnet's initial weights "
                        "(same, the default) or PyTorch's own init")
    parser.add_argument("--val-chars", type=int, default=None,
                        help="evaluate on the first N held-out characters "
                        "only (default: all of them; --quick 30000)")
    parser.add_argument("--quick", action="store_true",
                        help="30 s each, checkpoints every 10 s, 30,000 "
                        "held-out characters")
    args = parser.parse_args(argv)
    minutes = args.minutes or (0.5 if args.quick else 3.0)
    every = args.every or (10.0 if args.quick else 30.0)
    budget = minutes * 60

    if torch is None:
        print("This comparison needs PyTorch (an optional dependency):\n"
              "    pip install torch==2.13.0", file=sys.stderr)
        return 1
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)

    text = load_shakespeare()
    cut = len(text) - int(len(text) * VALIDATION_FRACTION)
    train_text, val_text = text[:cut], text[cut:]
    vocab = "".join(sorted(set(train_text)))   # CharRNN's rule
    lookup = {ch: i for i, ch in enumerate(vocab)}
    val_codes = np.array([lookup[ch] for ch in val_text if ch in lookup],
                         np.int64)
    n_unknown = len(val_text) - len(val_codes)
    val_chars = args.val_chars or (30000 if args.quick else None)
    if val_chars:
        val_codes = val_codes[:val_chars]
    V = len(vocab)

    shape = f"{args.layers} x {args.cell.upper()} {args.hidden}"
    print(f"character model, seqnet CharRNN vs PyTorch: {shape}, one-hot "
          f"over {V} characters")
    print(f"  date      : {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    print(f"  command   : python bench/charlm_vs_torch.py "
          f"{' '.join(sys.argv[1:] if argv is None else argv)}")
    print(f"  data      : tinyshakespeare, {len(train_text):,} characters to "
          f"train, the last {len(val_text):,} held out ({n_unknown} unknown "
          f"to the vocabulary dropped); evaluated on "
          f"{'all' if not val_chars else f'the first {len(val_codes):,}'}")
    print(f"  recipe    : Adam lr {LEARNING_RATE:g}, {N_STREAMS} streams, "
          f"BPTT {BPTT}, clip norm {CLIP_NORM:g}, {args.threads} thread(s), "
          f"{minutes:g} min each, checkpoint every {every:g} s; torch init: "
          f"{args.torch_init}")
    print(f"  versions  : seqnet {seqnet.__version__}, torch "
          f"{torch.__version__}", flush=True)

    init_net = seqnet_initial_weights(args, V)
    model = seqnet_model(args, budget)
    runner = TorchRunner(torch, torch_model(
        torch, args, V, init_net if args.torch_init == "same" else None),
        args, V)

    runs = {}
    sides = ["seqnet", "torch"]
    if args.order == "torch-first":
        sides.reverse()
    for side in sides:
        load = _loadavg()
        print(f"\ntraining {side} for {budget:.0f} s (load average {load})",
              file=sys.stderr, flush=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if side == "seqnet":
                marks, secs, chars, cpu, initial = train_seqnet(
                    model, train_text, every)
                if model.vocabulary_ != vocab:
                    raise RuntimeError("CharRNN built another vocabulary")
                same = np.array_equal(initial, init_net.params)
            else:
                marks, secs, chars, cpu = runner.train(train_text, lookup,
                                                       budget, every)
        runs[side] = dict(marks=marks, secs=secs, chars=chars, cpu=cpu,
                          load=(load, _loadavg()))
    if args.torch_init == "same" and not same:
        print("WARNING: seqnet's initial weights were not the ones copied "
              "into torch; the curves start from different weights")

    print("\nevaluating the checkpoints on the held-out text",
          file=sys.stderr, flush=True)
    curves = {}
    final = model._net.params.copy()
    curves["seqnet"] = [
        (t, c, evaluate_seqnet(model, p, val_codes, args.threads))
        for t, c, p in runs["seqnet"]["marks"].snaps]
    model._net.params[...] = final
    curves["torch"] = [(t, c, runner.evaluate(p, val_codes))
                       for t, c, p in runs["torch"]["marks"].snaps]

    _report(curves, runs, args, every, same)
    return 0


def _report(curves, runs, args, every, same):
    print("\nvalidation loss (nats/char on the held-out text) against "
          "training time")
    head = (f"{'time':>6}  | {'seqnet t':>8} {'chars':>10} {'val loss':>9} "
            f" | {'torch t':>8} {'chars':>10} {'val loss':>9}  | lower")
    print(head)
    print("-" * len(head))
    s_rows, t_rows = curves["seqnet"], curves["torch"]
    for i in range(max(len(s_rows), len(t_rows))):
        s = s_rows[i] if i < len(s_rows) else None
        t = t_rows[i] if i < len(t_rows) else None
        last = (s is None or i == len(s_rows) - 1) and \
            (t is None or i == len(t_rows) - 1)
        nominal = "end" if last and i > 0 else f"{i * every:.0f}s"

        def cell(r):
            if r is None:
                return f"{'':>8} {'':>10} {'':>9}"
            return f"{r[0]:>7.1f}s {r[1]:>10,} {r[2]:>9.4f}"

        better = ""
        if s is not None and t is not None and i > 0:
            better = "seqnet" if s[2] < t[2] else "torch"
        print(f"{nominal:>6}  | {cell(s)}  | {cell(t)}  | {better}")
    if args.torch_init == "same":
        d = abs(s_rows[0][2] - t_rows[0][2])
        print(f"  (same initial weights{'' if same else ' NOT verified'}: "
              f"the two evaluations at 0 s differ by {d:.1e})")

    print("\nthroughput while training")
    for side in ("seqnet", "torch"):
        r = runs[side]
        print(f"  {side:<7}: {r['chars'] / r['secs']:>9,.0f} chars/s "
              f"({r['chars']:,} characters in {r['secs']:.1f} s, "
              f"CPU {r['cpu'] / r['secs']:.2f} cores busy on average; load "
              f"average {r['load'][0]} -> {r['load'][1]})")
    print(f"  PyTorch recipe in shared/data/README.md: {README_REFERENCE}")

    s_final, t_final = s_rows[-1][2], t_rows[-1][2]
    ratio = (runs["seqnet"]["chars"] / runs["seqnet"]["secs"]) / \
        (runs["torch"]["chars"] / runs["torch"]["secs"])
    verdict = "PASS" if s_final < t_final else "MISS"
    print(f"\nfinal validation loss: seqnet {s_final:.4f}, torch "
          f"{t_final:.4f}; seqnet processes {ratio:.2f}x the characters/s. "
          f"Issue 4 target (seqnet lower for the same budget): {verdict}")


if __name__ == "__main__":
    sys.exit(main())
