/* Shared by every compute shader of the vulkan backend (kernels/vulkan).
 *
 * Every shader uses descriptor set 0 with storage-buffer bindings 0..7 (the
 * host pushes them per dispatch, VK_KHR_push_descriptor), a push-constant
 * block of at most 128 bytes, and specialization constant 0 as its
 * work-group size (the host picks it from the device's limits and subgroup
 * size). Dispatches that need more than maxComputeWorkGroupCount[0] groups
 * are split into a 2D grid; esft_group() is the linear group index. */
#extension GL_GOOGLE_include_directive : require

layout(constant_id = 0) const uint LS = 64;
layout(local_size_x_id = 0) in;

uint esft_group() { return gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x; }
uint esft_gid() { return esft_group() * LS + gl_LocalInvocationID.x; }
