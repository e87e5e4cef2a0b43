/* The members' sum of es_update and es_optimize: for elements 4b .. 4b+3,
 * sum over k ascending of fma(coeffs[k], eps(seeds[k], tid, i), acc), f32.
 * The including shader declares side[] first: side[2k], side[2k+1] = seed
 * k (lo, hi); side[2K + k] = the bits of coeffs[k]. */
vec4 esft_member_sum(uint b, uint tid, uint K) {
    vec4 acc = vec4(0.0);
    for (uint k = 0u; k < K; k++) {
        vec4 z = esft_eps_block(uvec2(side[2u * k], side[2u * k + 1u]), tid, uvec2(b, 0u));
        float c = uintBitsToFloat(side[2u * K + k]);
        acc = fma(vec4(c), z, acc);
    }
    return acc;
}
