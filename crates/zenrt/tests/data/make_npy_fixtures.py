"""Writes the tiny NumPy fixtures read by crates/zenrt/tests/npy_numpy.rs.

Run from this folder: python3 make_npy_fixtures.py  (needs numpy). The outputs are committed.
Every array holds arange(6) reshaped to (2, 3) (bool: arange(6) % 2 == 1) unless noted.
"""

import numpy as np

base = np.arange(6).reshape(2, 3)
dtypes = ["f2", "f4", "f8", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8"]
for dt in dtypes:
    np.save(f"le_{dt}.npy", base.astype("<" + dt))
    if dt not in ("i1", "u1"):
        np.save(f"be_{dt}.npy", base.astype(">" + dt))
np.save("b1.npy", base % 2 == 1)
np.save("fortran_f4.npy", np.asfortranarray(base.astype("<f4")))
np.save("scalar_f8.npy", np.float64(2.5))
np.save("empty_i4.npy", np.zeros((0, 3), dtype="<i4"))
np.save("fortran_3d_i2.npy", np.asfortranarray(np.arange(24, dtype="<i2").reshape(2, 3, 4)))

# Format version 2 and 3 headers (numpy picks them only when needed; force them).
def save_version(path, arr, version):
    with open(path, "wb") as f:
        np.lib.format.write_array(f, arr, version=version)

save_version("v2_f4.npy", base.astype("<f4"), (2, 0))
save_version("v3_f4.npy", base.astype("<f4"), (3, 0))

np.savez("stored.npz", x=base.astype("f4"), **{"y:0": base.astype("i8"), "z": base % 2 == 1})
np.savez_compressed("deflate.npz", x=base.astype("f4"), **{"y:0": base.astype("i8"), "z": base % 2 == 1})
