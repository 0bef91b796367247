// The distillation methods, each registered with its paper and options (registry.ts).
import { Vanilla } from './none.js';
import { KD } from './kd.js';
import { DIST } from './dist.js';
import { SP } from './sp.js';
import { FT } from './ft.js';
import { AB } from './ab.js';
import { DLB } from './dlb.js';
import { FitNet } from './fitnet.js';
import { AT } from './at.js';
import { RKD } from './rkd.js';
import { ICKD } from './ickd.js';
import { DKD } from './dkd.js';
import { ReviewKD } from './reviewkd.js';
import { PKT } from './pkt.js';
import { NST } from './nst.js';
import { CC } from './cc.js';
import { VID } from './vid.js';
import { KDSVD } from './kdsvd.js';
import { OFD } from './ofd.js';
import { FSP } from './fsp.js';
import { SimKD } from './simkd.js';
import { CATKD, classActivationMaps } from './catkd.js';
import { CRD, contrastSampler } from './crd.js';
import { TfKDReg, TfKDSelf } from './tfkd.js';
import { NKD } from './nkd.js';
import { PSKD } from './pskd.js';
import { CTKD, LearnableTemperature, ctkdLambda } from './ctkd.js';
import { SDD, regionLogits } from './sdd.js';
import { CSKD } from './cskd.js';
import { BYOT, AuxiliaryHead } from './byot.js';
import { DML } from './dml.js';
import { MLKD } from './mlkd.js';
import { TTM, WTTM } from './ttm.js';
import { DISTPlus } from './distplus.js';
import { DeiT } from './deit.js';
import { registerMethodClass } from './registry.js';

export * from './distiller.js';
export * from './features.js';
export * from './registry.js';
export * as losses from './losses.js';
export {
  Vanilla,
  KD,
  DeiT,
  DIST,
  SP,
  FT,
  AB,
  DLB,
  FitNet,
  AT,
  RKD,
  ICKD,
  DKD,
  ReviewKD,
  PKT,
  NST,
  CC,
  VID,
  KDSVD,
  OFD,
  FSP,
  SimKD,
  CATKD,
  classActivationMaps,
  CRD,
  contrastSampler,
  TfKDReg,
  TfKDSelf,
  NKD,
  PSKD,
  CTKD,
  LearnableTemperature,
  ctkdLambda,
  SDD,
  regionLogits,
  CSKD,
  BYOT,
  AuxiliaryHead,
  DML,
  MLKD,
  TTM,
  WTTM,
  DISTPlus,
};

const features = 'features: {student: [layer2], teacher: [layer2]}';
registerMethodClass('none', Vanilla, { description: 'the student trained alone (baseline)' });
registerMethodClass('kd', KD, {
  description: 'logit distillation (Hinton et al. 2015)',
  paper: 'https://arxiv.org/abs/1503.02531',
  example: 'method: {name: kd, options: {T: 4, ceWeight: 0.1, kdWeight: 0.9}}',
});
registerMethodClass('dist', DIST, {
  description: 'relation of predictions, inter- and intra-class (Huang et al. 2022)',
  paper: 'https://arxiv.org/abs/2205.10536',
  example: 'method: {name: dist, options: {tau: 4, kdWeight: 2}}',
});
registerMethodClass('sp', SP, {
  description: 'similarity-preserving (Tung & Mori 2019)',
  paper: 'https://arxiv.org/abs/1907.09682',
  example: `method: {name: sp, options: {kdWeight: 3000, ${features}}}`,
});
registerMethodClass('ft', FT, {
  description: 'factor transfer, with its paraphraser stage (Kim et al. 2018)',
  paper: 'https://arxiv.org/abs/1802.04977',
  example: 'method: {name: ft, options: {rate: 0.5, kdWeight: 500}}',
});
registerMethodClass('ab', AB, {
  description: 'activation boundaries, with its initialisation stage (Heo et al. 2019)',
  paper: 'https://arxiv.org/abs/1811.03233',
  example: 'method: {name: ab, options: {initEpochs: 30}}',
});
registerMethodClass('dlb', DLB, {
  description: 'self-distillation from the last mini-batch, no teacher (Shen et al. 2022)',
  paper: 'https://arxiv.org/abs/2203.16172',
  example: 'method: {name: dlb, options: {T: 3, alpha: 1}}',
});
registerMethodClass('fitnet', FitNet, {
  description: 'hints through a regressor (Romero et al. 2015)',
  paper: 'https://arxiv.org/abs/1412.6550',
  example: `method: {name: fitnet, options: {kdWeight: 100, ${features}}}`,
});
registerMethodClass('at', AT, {
  description: 'attention transfer (Zagoruyko & Komodakis 2017)',
  paper: 'https://arxiv.org/abs/1612.03928',
  example: 'method: {name: at, options: {features: {student: [layer1, layer2], teacher: [layer1, layer2]}}}',
});
registerMethodClass('rkd', RKD, {
  description: 'relational distances and angles (Park et al. 2019)',
  paper: 'https://arxiv.org/abs/1904.05068',
  example: "method: {name: rkd, options: {features: {student: ['fc:input'], teacher: ['fc:input']}}}",
});
registerMethodClass('ickd', ICKD, {
  description: 'inter-channel correlation (Liu et al. 2021)',
  paper: 'https://arxiv.org/abs/2108.12093',
  example: 'method: {name: ickd, options: {kdWeight: 2.5}}',
});
registerMethodClass('dkd', DKD, {
  description: 'decoupled target / non-target KD (Zhao et al. 2022)',
  paper: 'https://arxiv.org/abs/2203.08679',
  example: 'method: {name: dkd, options: {alpha: 1, beta: 8, T: 4}}',
});
registerMethodClass('reviewkd', ReviewKD, {
  description: 'knowledge review (Chen et al. 2021)',
  paper: 'https://arxiv.org/abs/2104.09044',
  example: 'method: {name: reviewkd, options: {kdWeight: 5, warmupEpochs: 20}}',
});
registerMethodClass('pkt', PKT, {
  description: 'probabilistic knowledge transfer of cosine similarities (Passalis & Tefas 2018)',
  paper: 'https://arxiv.org/abs/1803.10837',
  example: 'method: {name: pkt, options: {kdWeight: 30000}}',
});
registerMethodClass('nst', NST, {
  description: 'neuron selectivity transfer, MMD of channel activations (Huang & Wang 2017)',
  paper: 'https://arxiv.org/abs/1707.01219',
  example: 'method: {name: nst, options: {kdWeight: 50}}',
});
registerMethodClass('cc', CC, {
  description: 'correlation congruence of embedded features (Peng et al. 2019)',
  paper: 'https://arxiv.org/abs/1904.01802',
  example: 'method: {name: cc, options: {kdWeight: 0.02, embedDim: 128}}',
});
registerMethodClass('vid', VID, {
  description: 'variational information distillation, learned variance per channel (Ahn et al. 2019)',
  paper: 'https://arxiv.org/abs/1904.05835',
  example: 'method: {name: vid, options: {kdWeight: 1, initVariance: 5}}',
});
registerMethodClass('kdsvd', KDSVD, {
  description: 'relations of singular vectors between consecutive stages (Lee et al. 2018)',
  paper: 'https://arxiv.org/abs/1807.06819',
  example: 'method: {name: kdsvd, options: {k: 1, kdWeight: 1}}',
});
registerMethodClass('ofd', OFD, {
  description: 'overhaul of feature distillation: pre-ReLU maps, margins, partial L2 (Heo et al. 2019)',
  paper: 'https://arxiv.org/abs/1904.01866',
  example: 'method: {name: ofd, options: {kdWeight: 0.001}}',
});
registerMethodClass('fsp', FSP, {
  description: 'flow of solution procedure between layers, with its initialisation stage (Yim et al. 2017)',
  paper: 'https://openaccess.thecvf.com/content_cvpr_2017/html/Yim_A_Gift_From_CVPR_2017_paper.html',
  example: 'method: {name: fsp, options: {initEpochs: 30}}',
});
registerMethodClass('simkd', SimKD, {
  description: "the teacher's classifier reused through a projector of the student's features (Chen et al. 2022)",
  paper: 'https://arxiv.org/abs/2203.14001',
  example: 'method: {name: simkd, options: {factor: 2}}',
});
registerMethodClass('catkd', CATKD, {
  description: 'class activation maps of the classifiers, pooled and transferred (Guo et al. 2023)',
  paper: 'https://arxiv.org/abs/2304.12777',
  example: 'method: {name: catkd, options: {kdWeight: 15, camResolution: 2, normalize: false}}',
});
registerMethodClass('crd', CRD, {
  description: 'contrastive representation distillation with a memory bank (Tian et al. 2020)',
  paper: 'https://arxiv.org/abs/1910.10699',
  example: 'method: {name: crd, options: {kdWeight: 0.8, nceK: 16384, memory: bank}}',
});
registerMethodClass('tfkd-reg', TfKDReg, {
  description: 'teacher-free KD: a virtual teacher of label smoothing, no network (Yuan et al. 2020)',
  paper: 'https://arxiv.org/abs/1909.11723',
  example: 'method: {name: tfkd-reg, options: {alpha: 0.1, T: 20, multiplier: 100}}',
});
registerMethodClass('tfkd-self', TfKDSelf, {
  description: 'teacher-free KD: a pretrained copy of the student as its own teacher (Yuan et al. 2020)',
  paper: 'https://arxiv.org/abs/1909.11723',
  example: 'method: {name: tfkd-self, options: {alpha: 0.95, T: 6, multiplier: 50}}',
});
registerMethodClass('nkd', NKD, {
  description: 'normalized KD: target term and renormalised non-target term (Yang et al. 2023)',
  paper: 'https://arxiv.org/abs/2303.13005',
  example: 'method: {name: nkd, options: {T: 3, gamma: 3.5}}',
});
registerMethodClass('pskd', PSKD, {
  description: "progressive self-KD from the model's own predictions of the previous epoch, no teacher (Kim et al. 2021)",
  paper: 'https://arxiv.org/abs/2006.12000',
  example: 'method: {name: pskd, options: {alphaT: 0.8}}',
});
registerMethodClass('ctkd', CTKD, {
  description: 'curriculum temperature: a learnable temperature trained adversarially through gradient reversal (Li et al. 2023)',
  paper: 'https://arxiv.org/abs/2211.16231',
  example: 'method: {name: ctkd, options: {base: kd, temperature: global, tStart: 1, tEnd: 20, lambdaEpochs: 10}}',
});
registerMethodClass('sdd', SDD, {
  description: 'scale-decoupled KD: KD or DKD on the logits of multi-scale pooled regions (Wei et al. 2024)',
  paper: 'https://arxiv.org/abs/2403.13512',
  example: 'method: {name: sdd, options: {base: dkd, scales: [1, 2, 4], warmupEpochs: 20}}',
});
registerMethodClass('cskd', CSKD, {
  description: 'class-wise self-KD: another sample of the same class is the soft target, no teacher (Yun et al. 2020)',
  paper: 'https://arxiv.org/abs/2003.13964',
  example: 'method: {name: cskd, options: {T: 4, lambda: 1}}',
});
registerMethodClass('byot', BYOT, {
  description:
    "be your own teacher: auxiliary heads on the student's stages learn from its deepest classifier, no teacher (Zhang et al. 2019)",
  paper: 'https://arxiv.org/abs/1905.08094',
  example: 'method: {name: byot, options: {T: 3, alpha: 0.1, beta: 0.000001}}',
});
registerMethodClass('dml', DML, {
  description: 'deep mutual learning: a cohort of students, each learning from the others online, no teacher (Zhang et al. 2018)',
  paper: 'https://arxiv.org/abs/1706.00384',
  example: 'method: {name: dml, options: {peers: [resnet8, mobilenetv2]}}',
});
registerMethodClass('mlkd', MLKD, {
  description:
    'multi-level logit distillation: KD, class and batch alignment at five temperatures on a weak and a strong view (Jin et al. 2023)',
  paper: 'https://openaccess.thecvf.com/content/CVPR2023/html/Jin_Multi-Level_Logit_Distillation_CVPR_2023_paper.html',
  example: 'method: {name: mlkd, options: {T: 4, ceWeight: 0.1, kdWeight: 0.9}}',
});
registerMethodClass('ttm', TTM, {
  description:
    "transformed teacher matching: the teacher's probabilities to the power γ, the student at T = 1 (Zheng & Yang 2024)",
  paper: 'https://arxiv.org/abs/2402.11148',
  example: 'method: {name: ttm, options: {gamma: 0.1, beta: 45}}',
});
registerMethodClass('wttm', WTTM, {
  description: 'weighted transformed teacher matching: TTM with each sample weighted by its power sum (Zheng & Yang 2024)',
  paper: 'https://arxiv.org/abs/2402.11148',
  example: 'method: {name: wttm, options: {gamma: 0.2, beta: 4}}',
});
registerMethodClass('distplus', DISTPlus, {
  description:
    "DIST+: DIST with the last maps' channel and spatial relations (Huang et al. TPAMI 2025, torchdistill's DISTPlusLoss)",
  paper: 'https://ieeexplore.ieee.org/document/10938241',
  example: 'method: {name: distplus, options: {beta: 2, gamma: 2, iota: 1, kappa: 1, tau: 1, kdWeight: 2}}',
});
registerMethodClass('deit', DeiT, {
  description: "DeiT's distillation through the distillation token (Touvron et al. 2021); hard or soft",
  paper: 'https://arxiv.org/abs/2012.12877',
  example: 'student: {model: torchvision.deit_tiny_distilled}\nmethod: {name: deit, options: {type: hard, alpha: 0.5}}',
});
