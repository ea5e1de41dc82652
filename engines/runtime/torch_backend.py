"""PyTorch backend: eager by default; optional ``torch.compile``; on CUDA fp16 autocast and CUDA graphs.

fp16 only touches the transformer: token pruning runs in fp32 inside the model whatever autocast
says. A CUDA graph is captured once per batch size on static input/output buffers, which removes
the per-kernel launch overhead that dominates at batch 1. On the CPU the frame-token cache is on
by default (``frame_cache``): the per-frame half of the network runs once per new frame; with
``compile`` only the per-window half is compiled (the number of new frames varies per call).
"""
from __future__ import annotations

import numpy as np
import torch

from engines.runtime.engine import Engine
from engines.runtime.graph import FrameEncoder, TargetFrameLifter, TokenLifter, has_frame_split


class TorchEngine(Engine):
    backend = "torch"

    def __init__(self, model: torch.nn.Module, *, lookahead: int = 0, device: str | None = None, compile: bool = False,
                 fp16: bool | None = None, cuda_graph: bool | None = None, frame_cache: bool | None = None,
                 threads: int | None = None, **info):
        super().__init__(model.config, lookahead, **info)
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        cuda = self.device.type == "cuda"
        self.fp16 = cuda if fp16 is None else fp16
        self.cuda_graph = cuda if cuda_graph is None else cuda_graph
        if (self.fp16 or self.cuda_graph) and not cuda:
            raise ValueError("fp16 and cuda_graph need a CUDA device for the torch backend")
        if frame_cache and self.cuda_graph:
            raise ValueError("the frame cache runs the network in two calls; it cannot be combined with cuda_graph")
        if threads:
            torch.set_num_threads(threads)
        self.compiled = compile
        model = model.to(self.device).eval()
        split = has_frame_split(model)
        if frame_cache and not split:
            raise ValueError("this architecture has no per-frame half: no frame cache")
        modules = {"window": TargetFrameLifter(model)} | ({"tokens": TokenLifter(model)} if split else {})
        self.modules = {kind: torch.compile(m, dynamic=False) if compile else m for kind, m in modules.items()}
        if split:
            self.modules["frames"] = FrameEncoder(model)
        if split and ((not cuda) if frame_cache is None else frame_cache):  # default: on for CPU, off for CUDA
            self.use_frame_cache()
        self._graphs: dict[int, tuple[torch.cuda.CUDAGraph, torch.Tensor, torch.Tensor]] = {}

    def _describe_backend(self) -> dict:
        return {"device": str(self.device), "fp16": self.fp16, "cuda_graph": self.cuda_graph,
                "torch_compile": self.compiled, "torch": torch.__version__}

    def _forward(self, x: torch.Tensor, kind: str = "window") -> torch.Tensor:
        inputs = (x,) if kind == "frames" else (x, torch.full((x.shape[0],), self.target, dtype=torch.long, device=self.device))
        with torch.inference_mode(), torch.autocast(self.device.type, dtype=torch.float16, enabled=self.fp16):
            return self.modules[kind](*inputs).float()

    def _graph(self, batch: int) -> tuple[torch.cuda.CUDAGraph, torch.Tensor, torch.Tensor]:
        if batch not in self._graphs:
            static_in = torch.zeros(batch, self.window, self.config.num_joints, 2, device=self.device)
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):  # warm-up outside the graph, as CUDA graph capture requires
                for _ in range(3):
                    self._forward(static_in)
            torch.cuda.current_stream().wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                static_out = self._forward(static_in)
            self._graphs[batch] = (graph, static_in, static_out)
        return self._graphs[batch]

    def _run(self, windows: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(windows)
        if not self.cuda_graph:
            return self._forward(x.to(self.device)).cpu().numpy()
        graph, static_in, static_out = self._graph(x.shape[0])
        static_in.copy_(x)
        graph.replay()
        return static_out.cpu().numpy()

    def _encode_frames(self, frames: np.ndarray) -> np.ndarray:
        return self._forward(torch.from_numpy(frames).to(self.device), "frames").cpu().numpy()

    def _run_tokens(self, frame_tokens: np.ndarray) -> np.ndarray:
        return self._forward(torch.from_numpy(frame_tokens).to(self.device), "tokens").cpu().numpy()
