//! The one checked GEMM entry point of the reference kernels (f32/f64 through
//! `matrixmultiply`): `C[m×n] = A[m×k]·B[k×n] + beta·C` with explicit strides. Every extent is
//! checked against the slices before the unsafe call, so a bad shape is an error, not UB.

use crate::{ensure, Elem, Result};

/// Float element types with a GEMM kernel (f32, f64).
pub trait GemmFloat:
    Elem + std::ops::Add<Output = Self> + std::ops::Mul<Output = Self> + std::ops::AddAssign + std::ops::Sub<Output = Self>
{
    /// # Safety
    /// Every element the strides address must lie inside the allocations behind `a`, `b` and
    /// `c`, and `c` must not overlap `a` or `b` (use [`gemm`], which checks this).
    #[allow(clippy::too_many_arguments)]
    unsafe fn gemm_raw(
        m: usize,
        k: usize,
        n: usize,
        a: *const Self,
        rsa: isize,
        csa: isize,
        b: *const Self,
        rsb: isize,
        csb: isize,
        beta: Self,
        c: *mut Self,
        rsc: isize,
        csc: isize,
    );
}

macro_rules! impl_gemm_float {
    ($t:ty, $f:path) => {
        impl GemmFloat for $t {
            unsafe fn gemm_raw(
                m: usize,
                k: usize,
                n: usize,
                a: *const $t,
                rsa: isize,
                csa: isize,
                b: *const $t,
                rsb: isize,
                csb: isize,
                beta: $t,
                c: *mut $t,
                rsc: isize,
                csc: isize,
            ) {
                $f(m, k, n, 1.0, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc)
            }
        }
    };
}
impl_gemm_float!(f32, matrixmultiply::sgemm);
impl_gemm_float!(f64, matrixmultiply::dgemm);

/// A strided matrix view into a slice: `(slice, row stride, column stride)`.
pub type Mat<'a, T> = (&'a [T], usize, usize);

/// Highest element offset touched by a strided `rows × cols` matrix (None if empty).
fn max_offset(rows: usize, cols: usize, rs: usize, cs: usize) -> Option<usize> {
    if rows == 0 || cols == 0 {
        None
    } else {
        Some((rows - 1) * rs + (cols - 1) * cs)
    }
}

/// `C[m×n] = A[m×k]·B[k×n] + beta·C`, C with row stride `rsc` and column stride `csc`.
#[allow(clippy::too_many_arguments)]
pub fn gemm<T: GemmFloat>(
    m: usize,
    k: usize,
    n: usize,
    a: Mat<T>,
    b: Mat<T>,
    beta: T,
    c: &mut [T],
    rsc: usize,
    csc: usize,
) -> Result<()> {
    let Some(cmax) = max_offset(m, n, rsc, csc) else { return Ok(()) };
    ensure!(cmax < c.len(), "internal: gemm output out of bounds");
    if k == 0 {
        for i in 0..m {
            for j in 0..n {
                let v = &mut c[i * rsc + j * csc];
                *v = if beta == T::zero() { T::zero() } else { *v * beta };
            }
        }
        return Ok(());
    }
    let ((av, rsa, csa), (bv, rsb, csb)) = (a, b);
    ensure!(max_offset(m, k, rsa, csa).is_some_and(|o| o < av.len()), "internal: gemm lhs out of bounds");
    ensure!(max_offset(k, n, rsb, csb).is_some_and(|o| o < bv.len()), "internal: gemm rhs out of bounds");
    // SAFETY: every offset touched is within the slices (checked above); `c` is a distinct
    // `&mut` borrow, so it does not alias `a` or `b`.
    unsafe {
        T::gemm_raw(
            m,
            k,
            n,
            av.as_ptr(),
            rsa as isize,
            csa as isize,
            bv.as_ptr(),
            rsb as isize,
            csb as isize,
            beta,
            c.as_mut_ptr(),
            rsc as isize,
            csc as isize,
        )
    }
    Ok(())
}
