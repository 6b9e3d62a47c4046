#!/usr/bin/env python
"""Learning per character: seqnet's CharRNN against PyTorch's same recipe
from the same initial weights, validation loss after the same number of
characters (not the same time: bench/charlm_vs_torch.py does that).

The recipe and helpers are bench/charlm_vs_torch.py's (2 x LSTM 256, one-hot
input, 32 streams, BPTT 64, Adam 2e-3, clip norm 5, the same chunks in the
same order).  Three runs, one after the other:

- seqnet: ``CharRNN.fit``, its parameters copied at every checkpoint;
- torch: ``nn.LSTM`` as it comes, which has two bias vectors per layer
  (``bias_ih`` and ``bias_hh``, both trained);
- torch, one bias: ``bias_hh`` frozen at zero, so the model has exactly
  seqnet's parameters.

Every copy is evaluated afterwards with the same code (the torch module
loaded with the weights), on the first ``--val-chars`` held-out
characters.

    python bench/charlm_per_char.py [--chars 1000000] [--every 250000]
"""
import argparse
import os
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import charlm_vs_torch as base  # noqa: E402  (imports torch before seqnet)

import numpy as np  # noqa: E402

torch = base.torch


class _Enough(Exception):
    pass


def train_seqnet(args, text, checkpoints):
    model = base.CharRNN(
        cell=args.cell, hidden_sizes=(args.hidden,) * args.layers,
        learning_rate=args.seqnet_learning_rate or base.LEARNING_RATE,
        batch_size=base.N_STREAMS,
        tbptt_length=base.BPTT, clip_norm=base.CLIP_NORM,
        max_epochs=10**6, n_iter_no_change=10**9, n_jobs=args.threads,
        random_state=args.seed)
    snaps, seen = [], [0]
    real = model._step

    def step(run, x, lengths, tgt, w, initial=None):
        if not snaps:
            snaps.append((0, model._net.params.copy()))
        out = real(run, x, lengths, tgt, w, initial=initial)
        seen[0] += int(lengths.sum())
        if seen[0] >= checkpoints[len(snaps)]:
            snaps.append((seen[0], model._net.params.copy()))
            if len(snaps) == len(checkpoints):
                raise _Enough
        return out

    model._step = step
    start = time.perf_counter()
    try:
        model.fit(text)
    except _Enough:
        pass
    return snaps, time.perf_counter() - start


def train_torch(args, runner, codes, checkpoints, frozen_bias_hh):
    model = runner.model
    for name, p in model.rnn.named_parameters():
        if frozen_bias_hh and name.startswith("bias_hh"):
            p.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=base.LEARNING_RATE, betas=(0.9, 0.999),
                           eps=1e-8)
    snaps, chars = [(0, runner._snapshot())], 0
    start = time.perf_counter()
    while len(snaps) < len(checkpoints):
        streams = base._Streams([codes], base.N_STREAMS)
        state = runner._new_state(len(streams.pos))
        while len(snaps) < len(checkpoints):
            chunk = runner._chunk(streams, state, base.BPTT)
            if chunk is None:
                break
            x, tgt, mask, rows, h0, n = chunk
            logits, new = model(x, h0)
            loss = runner._loss(logits, tgt, mask)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, base.CLIP_NORM)
            opt.step()
            runner._keep(state, rows, new)
            chars += n
            if chars >= checkpoints[len(snaps)]:
                snaps.append((chars, runner._snapshot()))
    return snaps, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chars", type=float, default=1e6)
    parser.add_argument("--every", type=float, default=2.5e5)
    parser.add_argument("--val-chars", type=int, default=50000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seqnet-learning-rate", type=float, default=None,
                        help="seqnet's rate (default: the recipe's 2e-3)")
    parser.add_argument("--seqnet-only", action="store_true",
                        help="train seqnet only (with the torch columns "
                        "left out)")
    args = parser.parse_args()
    args.cell = "lstm"
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    text = base.load_shakespeare()
    cut = len(text) - int(len(text) * base.VALIDATION_FRACTION)
    train_text, val_text = text[:cut], text[cut:]
    vocab = "".join(sorted(set(train_text)))
    lookup = {ch: i for i, ch in enumerate(vocab)}
    V = len(vocab)
    codes = np.array([lookup[ch] for ch in train_text], np.int64)
    val = np.array([lookup[ch] for ch in val_text if ch in lookup],
                   np.int64)[:args.val_chars]
    checkpoints = [0] + [int(c) for c in np.arange(
        args.every, args.chars + 1, args.every)]
    init = base.seqnet_initial_weights(args, V)

    def runner(net):
        return base.TorchRunner(torch, base.torch_model(torch, args, V, net),
                                args, V)

    results = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        snaps, secs = train_seqnet(args, train_text, checkpoints)
        if not np.array_equal(snaps[0][1], init.params):
            raise RuntimeError("seqnet did not start from the shared weights")
        evaluator = runner(init)
        curve = []
        for chars, params in snaps:
            init.params[...] = params
            curve.append((chars, evaluator.evaluate(
                runner(init).model.state_dict(), val)))
        results["seqnet"] = (curve, secs)
        init.params[...] = snaps[0][1]
        for name, frozen in (() if args.seqnet_only else
                             (("torch", False), ("torch, one bias", True))):
            r = runner(init)
            tsnaps, secs = train_torch(args, r, codes, checkpoints, frozen)
            results[name] = ([(c, r.evaluate(s, val)) for c, s in tsnaps],
                             secs)
    print(f"validation loss (nats/char, first {len(val):,} held-out "
          f"characters) after the same characters; 2 x LSTM "
          f"{args.hidden}, Adam {base.LEARNING_RATE:g} (seqnet "
          f"{args.seqnet_learning_rate or base.LEARNING_RATE:g}), "
          f"{args.threads} "
          "threads, same initial weights")
    names = list(results)
    print(f"{'chars':>10} | " + " | ".join(f"{n:>15}" for n in names))
    for i, c in enumerate(checkpoints):
        print(f"{c:>10,} | " + " | ".join(
            f"{results[n][0][i][1]:>15.4f}" for n in names))
    print("seconds    | " + " | ".join(f"{results[n][1]:>15.1f}"
                                       for n in names))


if __name__ == "__main__":
    sys.exit(main())
