#!/usr/bin/env python3
"""A small Llama trained briefly in PyTorch, saved as a Hugging Face model directory (config.json
and model.safetensors in bf16), and its loss on one packed sequence: the figure the CUDA engine's
first step must reproduce from `sxbench train --init pretrained` on the same tokens.

Writes into DIR (argument): config.json, model.safetensors, sft.jsonl (one record, prompt empty,
response = the sequence, so every position after the first is a target), and prints
`RESULT loss_bf16=... loss_fp32=...`: the loss of the saved bf16 weights with bf16 activations
(autocast, as the engine computes) and with fp32 activations. The model is written here in plain
PyTorch with Hugging Face's Llama semantics (RMSNorm, rotate-half RoPE, grouped-query attention,
SwiGLU, untied head); no transformers package is needed.
"""
import json
import math
import os
import struct
import sys

import torch
import torch.nn.functional as F

CFG = dict(hidden=512, layers=4, heads=4, kv_heads=2, ffn=1376, vocab=2048, seq=256,
           theta=10000.0, eps=1e-5)


def rope_tables(T, hd, theta, device):
    inv = 1.0 / (theta ** (torch.arange(0, hd, 2, device=device, dtype=torch.float64) / hd))
    f = torch.outer(torch.arange(T, device=device, dtype=torch.float64), inv)
    emb = torch.cat([f, f], dim=-1)
    return emb.cos().float(), emb.sin().float()


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], dim=-1)


def rmsnorm(x, w, eps):
    xf = x.float()
    y = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)
    return w * y.to(x.dtype)


def forward(p, tokens, c):
    d, H, KV = c["hidden"], c["heads"], c["kv_heads"]
    hd = d // H
    T = tokens.shape[1]
    cos, sin = rope_tables(T, hd, c["theta"], tokens.device)
    x = p["model.embed_tokens.weight"][tokens]
    for i in range(c["layers"]):
        L = f"model.layers.{i}."
        h = rmsnorm(x, p[L + "input_layernorm.weight"], c["eps"])
        q = (h @ p[L + "self_attn.q_proj.weight"].T).view(1, T, H, hd).transpose(1, 2)
        k = (h @ p[L + "self_attn.k_proj.weight"].T).view(1, T, KV, hd).transpose(1, 2)
        v = (h @ p[L + "self_attn.v_proj.weight"].T).view(1, T, KV, hd).transpose(1, 2)
        q = (q * cos.to(q.dtype) + rotate_half(q) * sin.to(q.dtype))
        k = (k * cos.to(k.dtype) + rotate_half(k) * sin.to(k.dtype))
        k = k.repeat_interleave(H // KV, dim=1)
        v = v.repeat_interleave(H // KV, dim=1)
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + a.transpose(1, 2).reshape(1, T, d) @ p[L + "self_attn.o_proj.weight"].T
        h = rmsnorm(x, p[L + "post_attention_layernorm.weight"], c["eps"])
        g = h @ p[L + "mlp.gate_proj.weight"].T
        u = h @ p[L + "mlp.up_proj.weight"].T
        x = x + (F.silu(g) * u) @ p[L + "mlp.down_proj.weight"].T
    x = rmsnorm(x, p["model.norm.weight"], c["eps"])
    logits = (x @ p["lm_head.weight"].T).float()
    return F.cross_entropy(logits[0, :-1], tokens[0, 1:])


def params(c, device):
    d, hd, f, V = c["hidden"], c["hidden"] // c["heads"], c["ffn"], c["vocab"]
    k = c["kv_heads"] * hd
    g = torch.Generator(device="cpu").manual_seed(7)

    def mat(r, s):
        return (torch.randn(r, s, generator=g) * 0.02).to(device)

    p = {"model.embed_tokens.weight": mat(V, d)}
    for i in range(c["layers"]):
        L = f"model.layers.{i}."
        p[L + "input_layernorm.weight"] = torch.ones(d, device=device)
        p[L + "self_attn.q_proj.weight"] = mat(d, d)
        p[L + "self_attn.k_proj.weight"] = mat(k, d)
        p[L + "self_attn.v_proj.weight"] = mat(k, d)
        p[L + "self_attn.o_proj.weight"] = mat(d, d)
        p[L + "post_attention_layernorm.weight"] = torch.ones(d, device=device)
        p[L + "mlp.gate_proj.weight"] = mat(f, d)
        p[L + "mlp.up_proj.weight"] = mat(f, d)
        p[L + "mlp.down_proj.weight"] = mat(d, f)
    p["model.norm.weight"] = torch.ones(d, device=device)
    p["lm_head.weight"] = mat(V, d)
    return p


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        b = t.detach().to("cpu", torch.bfloat16).contiguous().view(torch.uint16).numpy().tobytes()
        header[name] = {"dtype": "BF16", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path + ".tmp", "wb") as fh:
        fh.write(struct.pack("<Q", len(h)))
        fh.write(h)
        for b in blobs:
            fh.write(b)
    os.replace(path + ".tmp", path)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    c = CFG
    dev = "cuda"
    torch.manual_seed(0)
    # A sequence with structure the model can learn: a random phrase of 37 tokens repeated.
    g = torch.Generator(device="cpu").manual_seed(3)
    phrase = torch.randint(0, c["vocab"], (37,), generator=g)
    tokens = phrase.repeat(c["seq"] // 37 + 1)[: c["seq"]].view(1, -1).to(dev)
    p = params(c, dev)
    for t in p.values():
        t.requires_grad_(True)
    opt = torch.optim.AdamW(p.values(), lr=2e-3, weight_decay=0.0)
    first = None
    for step in range(40):
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = forward(p, tokens, c)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    print(f"pytorch training: loss {first:.4f} -> {loss.item():.4f} over 40 steps")
    saved = {n: t.detach().to(torch.bfloat16) for n, t in p.items()}
    write_safetensors(os.path.join(out, "model.safetensors"), saved)
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama",
              "hidden_size": c["hidden"], "num_hidden_layers": c["layers"],
              "num_attention_heads": c["heads"], "num_key_value_heads": c["kv_heads"],
              "intermediate_size": c["ffn"], "vocab_size": c["vocab"],
              "max_position_embeddings": 1024, "rms_norm_eps": c["eps"],
              "rope_theta": c["theta"], "hidden_act": "silu", "tie_word_embeddings": False,
              "torch_dtype": "bfloat16"}
    with open(os.path.join(out, "config.json"), "w") as fh:
        json.dump(config, fh, indent=2)
    with open(os.path.join(out, "sft.jsonl"), "w") as fh:
        fh.write(json.dumps({"prompt": [], "response": tokens[0].tolist()}) + "\n")
    with torch.no_grad():
        pb = {n: t.to(dev) for n, t in saved.items()}
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss_bf16 = forward(pb, tokens, c).item()
        pf = {n: t.float() for n, t in pb.items()}
        loss_fp32 = forward(pf, tokens, c).item()
    print(f"RESULT loss_bf16={loss_bf16:.6f} loss_fp32={loss_fp32:.6f} "
          f"uniform={math.log(c['vocab']):.4f}")


if __name__ == "__main__":
    main()
