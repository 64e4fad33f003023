"""The zoo's vit_tiny as a torch.nn.Module, for the benches' PyTorch peers (scripts/bench_train.py,
scripts/bench_vit_int8.py).

timm's layout and names (patch_embed.proj, pos_embed, blocks.i.{norm1,attn.qkv,attn.proj,norm2,
mlp.fc1,mlp.fc2}, fc_norm, head): 4x4 patches, width D, pre-norm blocks of H-head attention and a
2x GELU MLP, mean over tokens. Every linear is an nn.Linear called as a module, so
torch.quantization.quantize_dynamic({nn.Linear}, qint8) replaces all of them.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


class Attention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads, self.qkv, self.proj = heads, nn.Linear(d, 3 * d), nn.Linear(d, d)

    def forward(self, x):
        b, t, d = x.shape
        qkv = self.qkv(x).reshape(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        a = torch.softmax((q @ k.transpose(-2, -1)) * (d // self.heads) ** -0.5, dim=-1)
        return self.proj((a @ v).transpose(1, 2).reshape(b, t, d))


class Mlp(nn.Module):
    def __init__(self, d, hidden):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(d, hidden), nn.Linear(hidden, d)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.norm1, self.attn = nn.LayerNorm(d, eps=1e-6), Attention(d, heads)
        self.norm2, self.mlp = nn.LayerNorm(d, eps=1e-6), Mlp(d, 2 * d)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, c, d, p):
        super().__init__()
        self.proj = nn.Conv2d(c, d, p, p)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class ViTTiny(nn.Module):
    def __init__(self, c, tokens, d, depth, heads, classes, patch):
        super().__init__()
        self.patch_embed = PatchEmbed(c, d, patch)
        self.pos_embed = nn.Parameter(torch.zeros(1, tokens, d))
        self.blocks = nn.Sequential(*[Block(d, heads) for _ in range(depth)])
        self.fc_norm, self.head = nn.LayerNorm(d, eps=1e-6), nn.Linear(d, classes)

    def forward(self, x):
        x = self.blocks(self.patch_embed(x) + self.pos_embed)
        return self.head(self.fc_norm(x.mean(1)))


def vit_tiny_fmnist():
    """vit_tiny as the zoo builds it for Fashion-MNIST (1 x 28 x 28, 10 classes)."""
    return ViTTiny(1, 49, 64, 4, 2, 10, 4)
