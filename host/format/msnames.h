/* MindSpore ResNet50 parameter names <-> torchvision's. Reading accepts the names of the MindSpore
 * "ResNet50 image classification" tutorial (norm, layerN.M.norm1, down_sample, fc) and of the
 * mindspore/models ResNet (bn1, down_sample_layer, end_point); writing uses the tutorial's. */
#ifndef RN_FORMAT_MSNAMES_H
#define RN_FORMAT_MSNAMES_H

#include <stddef.h>

/* 1 and the torchvision name in out for a model tensor; 0 for optimizer or training state
 * (moments.*, learning_rate, global_step, ...), which a model does not load. */
int rn_ms_to_torchvision(const char *ms, char *out, size_t len);
/* The tutorial's name for a torchvision name. */
void rn_torchvision_to_ms(const char *tv, char *out, size_t len);

#endif
