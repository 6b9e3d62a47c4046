#!/usr/bin/env python
"""seqnet's SequenceToSequence against the same encoder-decoder in PyTorch,
for the same wall-clock training budget: test exact-match accuracy,
training samples/s, and greedy decoding of a batch of 256.

Two real tasks:

- ``cmudict`` (many to many): spell a word, write its phonemes
  (``seqnet.datasets.load_cmudict()``, 5,000 train / 1,000 test words);
- ``digits`` (one to many, captioning-like): an 8x8 handwritten digit
  image (scikit-learn's ``load_digits``, 64 pixels scaled to [0, 1]) to
  its English name ("seven"); 1,347 train / 450 test images.

The recipe, both sides: LSTM encoder of ``--hidden`` units (bidirectional
for cmudict; none for digits, whose vector feeds the bridge), bridge
``tanh(s . M + m)`` to the decoder's h0 and c0, LSTM decoder of
``--hidden`` units reading ``--embedding``-wide embeddings of the previous
token (teacher forcing), softmax cross-entropy per output token (end
token included), Adam (lr ``--lr``), clip to global norm 5, batch 32,
float32, the same thread count.  Greedy decoding up to seqnet's
``max_output_length_``.  The two runs go one after the other; the machine
may be shared, so run it more than once.

    python bench/seq2seq_vs_torch.py                 # both tasks, 60 s each
    python bench/seq2seq_vs_torch.py --task digits --seconds 20
"""
import argparse
import os
import sys
import time
import warnings

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _ROOT]

import numpy as np  # noqa: E402
import torch  # noqa: E402  (before seqnet: one libgomp)
from torch import nn  # noqa: E402

from seqnet import SequenceToSequence  # noqa: E402

NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven",
         "eight", "nine"]


def load(task):
    if task == "cmudict":
        from seqnet.datasets import load_cmudict
        d = load_cmudict()
        return d.X_train, d.Y_train, d.X_test, d.Y_test
    from sklearn.datasets import load_digits
    digits = load_digits()
    X = (digits.data / 16.0).astype(np.float32)
    Y = [NAMES[t] for t in digits.target]
    n = 1347
    return X[:n], Y[:n], X[n:], Y[n:]


class TorchSeq2Seq(nn.Module):
    def __init__(self, n_in, n_out, hidden, emb, tokens, bidirectional):
        super().__init__()
        self.tokens = tokens
        if tokens:
            self.in_emb = nn.Embedding(n_in, emb)
            self.encoder = nn.LSTM(emb, hidden, bidirectional=bidirectional)
            summary = hidden * (2 if bidirectional else 1)
        else:
            self.encoder = None
            summary = n_in
        self.bridge = nn.Linear(summary, 2 * hidden)
        self.out_emb = nn.Embedding(n_out, emb)
        self.decoder = nn.LSTM(emb, hidden)
        self.head = nn.Linear(hidden, n_out)
        self.hidden = hidden

    def initial(self, x, x_lengths):
        if self.encoder is None:
            s = x
        else:
            packed = nn.utils.rnn.pack_padded_sequence(
                self.in_emb(x), x_lengths, enforce_sorted=False)
            _, (h_n, _) = self.encoder(packed)
            s = torch.cat(list(h_n), dim=1)
        z = torch.tanh(self.bridge(s))
        H = self.hidden
        return (z[None, :, :H].contiguous(), z[None, :, H:].contiguous())

    def loss(self, x, x_lengths, inp, tgt):
        state = self.initial(x, x_lengths)
        out, _ = self.decoder(self.out_emb(inp), state)
        logits = self.head(out)
        return nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1),
            ignore_index=-1, reduction="sum"), int((tgt >= 0).sum())

    @torch.no_grad()
    def greedy(self, x, x_lengths, max_len):
        h, c = self.initial(x, x_lengths)
        B = h.shape[1]
        code = torch.zeros(1, B, dtype=torch.long)
        out = torch.zeros(B, max_len, dtype=torch.long)
        done = torch.zeros(B, dtype=torch.bool)
        lengths = torch.full((B,), max_len)
        for t in range(max_len):
            o, (h, c) = self.decoder(self.out_emb(code), (h, c))
            code = self.head(o[0]).argmax(dim=1)
            ended = (code == 0) & ~done
            lengths[ended] = t
            done |= ended
            out[:, t] = code
            if done.all():
                break
            code = code[None]
        return out, lengths


def encode_inputs(X, vocab, tokens):
    if not tokens:
        return torch.tensor(np.asarray(X)), None
    lengths = [len(x) for x in X]
    codes = torch.zeros(max(lengths), len(X), dtype=torch.long)
    for j, x in enumerate(X):
        codes[:len(x), j] = torch.tensor([vocab.get(ch, 0) for ch in x])
    return codes, torch.tensor(lengths)


def encode_targets(Y, out_index):
    T = max(len(y) for y in Y) + 1
    inp = torch.zeros(T, len(Y), dtype=torch.long)
    tgt = torch.full((T, len(Y)), -1, dtype=torch.long)
    for j, y in enumerate(Y):
        codes = [out_index[t] for t in y]
        inp[1:len(codes) + 1, j] = torch.tensor(codes, dtype=torch.long)
        tgt[:len(codes), j] = torch.tensor(codes, dtype=torch.long)
        tgt[len(codes), j] = 0
    return inp, tgt


def run_torch(model, Xtr, Ytr, seconds, tokens, vocab, out_index, lr, seed):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    seen, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for batch in np.array_split(rng.permutation(len(Xtr)),
                                    max(1, len(Xtr) // 32)):
            x, xl = encode_inputs([Xtr[i] for i in batch], vocab, tokens)
            inp, tgt = encode_targets([Ytr[i] for i in batch], out_index)
            loss, n = model.loss(x, xl, inp, tgt)
            opt.zero_grad()
            (loss / n).backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            seen += len(batch)
            if time.perf_counter() - start >= seconds:
                break
    return seen / (time.perf_counter() - start)


def torch_predict(model, X, tokens, vocab, tokens_out, max_len):
    preds = []
    for s in range(0, len(X), 256):
        x, xl = encode_inputs(X[s:s + 256], vocab, tokens)
        out, lengths = model.greedy(x, xl, max_len)
        preds += [[tokens_out[c - 1] for c in row[:n].tolist()]
                  for row, n in zip(out, lengths)]
    return preds


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", choices=["cmudict", "digits", "both"],
                    default="both")
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--embedding", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    tasks = ["cmudict", "digits"] if args.task == "both" else [args.task]
    for task in tasks:
        Xtr, Ytr, Xte, Yte = load(task)
        tokens = task == "cmudict"
        bidir = tokens
        seqnet_model = SequenceToSequence(
            hidden_sizes=(args.hidden,), bidirectional=bidir,
            embedding_size=args.embedding, batch_size=32,
            learning_rate=args.lr, max_epochs=10**6, max_time=args.seconds,
            random_state=0, n_jobs=args.threads)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            seqnet_model.fit(Xtr, Ytr)
        epochs = seqnet_model.n_iter_
        sn_rate = seqnet_model.samples_per_second_
        sn_acc = seqnet_model.score(Xte, Yte)
        max_len = seqnet_model.max_output_length_
        tokens_out = seqnet_model.output_tokens_
        out_index = {t: i + 1 for i, t in enumerate(tokens_out)}
        vocab = getattr(seqnet_model, "vocabulary_", None)
        n_in = (len(vocab) + 1) if tokens else np.asarray(Xtr).shape[1]
        torch.manual_seed(0)
        tm = TorchSeq2Seq(n_in, len(tokens_out) + 1, args.hidden,
                          args.embedding, tokens, bidir)
        t_rate = run_torch(tm, Xtr, Ytr, args.seconds, tokens, vocab,
                           out_index, args.lr, 0)
        t_pred = torch_predict(tm, Xte, tokens, vocab, tokens_out, max_len)
        t_acc = float(np.mean([list(p) == list(y)
                               for p, y in zip(t_pred, Yte)]))
        batch = (list(Xte) * 3)[:256] if tokens else \
            np.concatenate([Xte] * 3)[:256]
        sn_times, t_times = [], []
        x, xl = encode_inputs(batch, vocab, tokens)
        for _ in range(5):                     # interleaved rounds
            start = time.perf_counter()
            seqnet_model.predict(batch)
            sn_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            tm.greedy(x, xl, max_len)
            t_times.append(time.perf_counter() - start)
        print(f"{task}: {args.seconds:.0f} s budget, {args.threads} threads, "
              f"LSTM {args.hidden}, embedding {args.embedding}")
        print(f"  seqnet : test exact match {sn_acc:.3f}, "
              f"{sn_rate:,.0f} samples/s ({epochs} epochs)")
        print(f"  PyTorch: test exact match {t_acc:.3f}, "
              f"{t_rate:,.0f} samples/s")
        print(f"  greedy decoding of 256 (median of 5): seqnet "
              f"{1e3 * np.median(sn_times):.1f} ms, PyTorch step loop "
              f"{1e3 * np.median(t_times):.1f} ms "
              f"(x{np.median(t_times) / np.median(sn_times):.2f})")
        preds = seqnet_model.predict(Xte[:5])
        for x, y, p in zip(Xte[:5], Yte[:5], preds):
            shown = x if tokens else "image"
            print(f"    {shown!s:>10} -> {' '.join(p) if tokens else p} "
                  f"(true: {' '.join(y) if tokens else y})")


if __name__ == "__main__":
    main()
