//! Grades `exercises/src/backprop.rs`.

exercises::graded!(
    backprop: conv2d_backward,
    max_pool_backward,
    avg_pool_backward,
    dense_forward,
    dense_backward,
    relu_forward,
    relu_backward,
    softmax_crossentropy,
    softmax_crossentropy_grad,
    numerical_gradient,
    check_gradient,
);
