"""Stand-in for ``flash_attn_triton.py`` of zhihan1996/DNABERT-2-117M, as it behaves with a recent triton.

The upstream kernel calls ``tl.dot(..., trans_b=True)``, an argument triton
removed, so on machines where triton is installed (Colab) the import succeeds
and the first forward pass fails with this ``TypeError`` (MAGICS-LAB/DNABERT_2
issues #57 and #70).  The stand-in always fails the same way, so a test passes
only if the loader switched the kernel off.
"""


def flash_attn_qkvpacked_func(qkv, bias=None, causal=False, softmax_scale=None):
    """Fail like the upstream triton kernel does on triton >= 2.1."""
    raise TypeError("dot() got an unexpected keyword argument 'trans_b'")
