/* One instruction set's GEMM kernels for each dtype of W: cpu_gemm.c
 * defines the instruction set's macros (GK_ISA(name) for its suffix, and
 * those cpu_gemm_kernel.h lists) and includes this file, which instantiates
 * the kernel for f32, bf16 and f16 W and then undefines them all. No
 * include guard: included once per instruction set. */

/* f32 W: the model's own weights, read as they are */
#define GK(name) GK_ISA(name##_f32)
#define GK_WT float
#define GK_LOADW(p) GK_LOAD(p)
#define GK_LOADWN(p, n) GK_LOADN(p, n)
#include "cpu_gemm_kernel.h"

/* bf16 W: the top half of an f32, widened by a shift */
#define GK(name) GK_ISA(name##_bf16)
#define GK_WT uint16_t
#define GK_LOADW(p) GK_LOAD_BF16(p)
#include "cpu_gemm_kernel.h"

/* f16 W: IEEE half, widened by the conversion instruction */
#define GK(name) GK_ISA(name##_f16)
#define GK_WT uint16_t
#define GK_LOADW(p) GK_LOAD_F16(p)
#include "cpu_gemm_kernel.h"

#undef GK_ISA
#undef GK_VEC
#undef GK_TARGET
#undef GK_VW
#undef GK_ZERO
#undef GK_LOAD
#undef GK_LOADN
#undef GK_LOAD_BF16
#undef GK_LOAD_F16
#undef GK_FMA
#undef GK_HSUM4
#undef GK_KEEP
#undef GK_PF
#undef GK_MR
#undef GK_NR
#undef GK_TILES
