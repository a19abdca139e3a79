"""Reference values for zenrt-train's optimizer and loss tests, computed with PyTorch in float64.

Run: python3 crates/zenrt-train/tests/data/gen_reference.py > crates/zenrt-train/tests/data/reference.txt
Each line: `name v1 v2 ...` (parsed by tests/optim_loss.rs).

Optimizers: parameters p0 = [0.5, -1.0, 2.0, 0.1, -0.3, 1.5]; at every step the gradient is
g = p**3 - 0.5 + 0.1*step (a function of the current parameters, so state carries over); 6 steps.
"""
import math
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
P0 = [0.5, -1.0, 2.0, 0.1, -0.3, 1.5]
STEPS = 6


def run(name, make):
    p = torch.tensor(P0, requires_grad=True)
    opt = make([p])
    for k in range(STEPS):
        opt.zero_grad()
        p.grad = (p.detach() ** 3 - 0.5 + 0.1 * k)
        opt.step()
    print(name, " ".join(repr(float(v)) for v in p.detach()))


run("sgd", lambda ps: torch.optim.SGD(ps, lr=0.05))
run("sgd_momentum", lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9))
run("sgd_nesterov_wd", lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.01))
run("adam", lambda ps: torch.optim.Adam(ps, lr=0.01, betas=(0.9, 0.999), eps=1e-7))
run("adam_l2", lambda ps: torch.optim.Adam(ps, lr=0.01, eps=1e-7, weight_decay=0.1))
run("adamw", lambda ps: torch.optim.AdamW(ps, lr=0.01, eps=1e-7, weight_decay=0.05))
run("rmsprop", lambda ps: torch.optim.RMSprop(ps, lr=0.01, alpha=0.9, eps=1e-7))
run("rmsprop_momentum", lambda ps: torch.optim.RMSprop(ps, lr=0.01, alpha=0.9, eps=1e-7, momentum=0.5))

# Losses on fixed data (3 samples, 4 classes).
logits = torch.tensor([[1.0, -0.5, 0.3, 2.0], [0.1, 0.2, -1.0, 0.0], [-2.0, 1.5, 0.5, 0.25]])
labels = torch.tensor([3, 0, 1])
onehot = F.one_hot(labels, 4).double()
probs = torch.softmax(logits, -1)
print("sparse_cce_logits", float(F.cross_entropy(logits, labels)))
print("cce_probs", float(F.nll_loss(torch.log(probs.clamp(1e-7, 1 - 1e-7)), labels)))
soft = torch.tensor([[0.1, 0.2, 0.3, 0.4], [0.25, 0.25, 0.25, 0.25], [0.0, 0.5, 0.5, 0.0]])
print("cce_soft_logits", float(-(soft * torch.log_softmax(logits, -1)).sum(-1).mean()))
z = torch.tensor([[0.3, -1.2], [2.5, 0.0], [-0.7, 4.0]])
t = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 0.3]])
print("bce_logits", float(F.binary_cross_entropy_with_logits(z, t)))
print("bce_probs", float(F.binary_cross_entropy(torch.sigmoid(z).clamp(1e-7, 1 - 1e-7), t)))
print("mse", float(F.mse_loss(z, t)))
