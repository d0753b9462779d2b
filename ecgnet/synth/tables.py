"""Numbers summarised once from the 2020 training labels; the generator needs nothing else.

Derived from the ``#Dx`` labels of the public 2020 training set (Perez Alday et al.,
Physiol. Meas. 2020; 37,749 records with a scored label): every record's classes (equivalent pairs merged) were made consistent with
``labels.make_consistent`` and counted.

- ``LABEL_SETS``: every consistent label set seen at least 8 times, with its count
  (``count A+B+..`` items separated by ``;``). They cover ``KEPT_FRACTION`` of the
  records, and keep the real co-occurrence of the common classes.
- ``TAIL_DEFICIT``: per class, the percentage of records whose label falls in the
  rarer sets (real marginal minus the marginal carried by ``LABEL_SETS``). A tail
  draw adds one class drawn with these weights to a common set, so the marginals
  stay close to the real ones.
- ``DEMOGRAPHICS``: per class, mean and standard deviation of age and the fraction
  of men among its records; ``MISSING_AGE`` is the fraction written as ``NaN``.
- ``SOURCES``: sampling rate and duration mixes shaped like the 2020 sources
  (mostly PTB-XL/Georgia 500 Hz 10 s; CPSC 6-60 s; PTB 1000 Hz long; INCART 257 Hz
  very long, kept rare and shortened to 5 minutes; the hidden US set's 300 Hz).
"""
from __future__ import annotations

LABEL_SETS = """
12019 NSR; 1910 LAD+NSR; 1877 AF; 1840 CRBBB; 1111 NSR+TAb; 920 IAVB; 918 STach; 830 SB; 812 PAC
767 LAD+LAnFB+NSR; 526 TAb; 469 IRBBB+NSR; 412 LQT; 348 NSR+SA; 307 SA; 288 PR; 274 LBBB
269 AF+TAb; 263 NSR+SB; 260 AF+CRBBB; 235 NSIVCB+NSR; 229 Brady; 222 AF+LAD; 216 LAD; 193 LQT+TAb
191 STach+TAb; 182 LAD+NSR+TAb; 178 PVC; 173 LAD+LBBB+NSR; 170 IAVB+NSR; 169 NSR+STach
167 NSR+PAC; 167 NSR+QAb; 151 TInv; 147 LAD+STach; 132 AFL; 124 LBBB+NSR; 118 IRBBB+LAD+NSR
116 IRBBB; 113 IAVB+SB; 113 QAb+TAb; 112 SB+TAb; 110 CRBBB+NSR; 108 LAD+NSIVCB+NSR; 107 NSR+RAD
104 LAD+SB; 104 LQRSV; 95 TAb+TInv; 94 LAD+LAnFB; 92 NSR+TInv; 84 LPR+NSR; 82 AF+LAD+LAnFB
77 LAD+LAnFB+NSR+TAb; 75 CRBBB+LAD+LAnFB+NSR; 75 IAVB+LAD+NSR; 75 LAD+SA; 72 CRBBB+PAC
70 LQRSV+NSR; 68 SA+SB; 65 IRBBB+LAD+LAnFB+NSR; 60 AF+LAD+LBBB; 60 NSIVCB; 59 PAC+STach
58 AF+IRBBB; 57 AF+LBBB; 55 CRBBB+LAD+NSR; 55 LAD+NSR+SB; 54 CRBBB+SB; 54 LAD+LAnFB+STach
53 SA+TAb; 52 PAC+TAb; 51 IAVB+LAD+LAnFB+NSR; 50 CRBBB+STach; 49 NSR+QAb+TAb; 48 CRBBB+IAVB
48 LAD+LBBB; 47 NSR+PAC+TAb; 46 AF+NSIVCB; 46 LAD+TAb; 46 LQT+NSR; 45 IAVB+NSR+TAb
45 NSIVCB+NSR+TAb; 44 IRBBB+SB; 44 IRBBB+STach; 44 STach+TInv; 43 LAD+PAC; 43 LQRSV+STach
43 PAC+SB; 41 PVC+STach; 40 LQT+QAb+TAb; 38 AF+TInv; 38 IAVB+TAb; 36 IAVB+LAD+LBBB+NSR
35 AFL+TAb; 35 IAVB+LAD; 35 IAVB+NSIVCB+NSR; 35 QAb+SB+TAb; 33 CRBBB+LAD; 33 LAD+NSR+SA
33 LQT+SB; 33 LQT+STach; 32 AF+LAD+TAb; 32 IRBBB+NSR+RAD; 32 IRBBB+NSR+TAb; 32 STach+TAb+TInv
31 IAVB+LQT; 31 LQT+TAb+TInv; 31 SB+TInv; 30 IAVB+LBBB; 30 IRBBB+LAD; 30 LQRSV+SB; 30 LQT+TInv
29 IAVB+LBBB+NSR; 29 IAVB+STach; 29 QAb+STach+TAb; 28 CRBBB+NSR+RAD; 28 LAD+LAnFB+SB; 28 LQT+PAC
27 AF+CRBBB+LAD; 27 AF+LQT+TAb; 27 AF+RAD; 27 LQRSV+TAb; 27 NSIVCB+SB; 26 LAD+LAnFB+SA
26 LAD+NSR+STach; 25 AF+LQT; 25 LAD+LQT; 23 AF+LQRSV; 23 IRBBB+LQT; 23 LAD+NSR+QAb
23 NSIVCB+STach; 23 PVC+TAb; 22 IRBBB+NSR+SA; 22 LPR+NSR+TAb; 22 NSIVCB+NSR+QAb; 21 AF+PVC
21 CRBBB+IAVB+LAD+LAnFB+NSR; 21 CRBBB+TAb; 21 IAVB+LAD+SB; 21 LAD+LBBB+STach; 21 LQRSV+STach+TAb
21 LQT+PVC; 20 AF+CRBBB+LAD+LAnFB; 20 IRBBB+NSR+QAb; 20 LAD+LAnFB+NSR+QAb; 20 LBBB+STach
20 NSR+QAb+TInv; 19 AFL+LAD; 19 LAD+LAnFB+NSR+PAC; 19 LQRSV+NSR+TAb; 19 LQT+SA; 18 AF+IRBBB+LAD
18 IAVB+PVC; 18 IRBBB+TAb; 18 LAD+LQT+NSR; 18 QAb+TAb+TInv; 17 IAVB+IRBBB+NSR; 17 IRBBB+PAC
17 IRBBB+SA; 17 LQRSV+PAC; 17 NSR+TAb+TInv; 17 PAC+PVC; 17 RAD+STach; 16 AF+TAb+TInv
16 LAD+LQRSV+NSR; 16 LAD+NSR+PAC; 16 LBBB+PAC; 15 AF+CRBBB+RAD; 15 IAVB+LAD+NSIVCB+NSR
15 LAD+SB+TAb; 15 LAD+STach+TAb; 15 LQT+QAb; 14 AF+LAD+LAnFB+TAb; 14 AF+LAD+NSIVCB
14 IAVB+LAD+LBBB; 14 LAD+LAnFB+NSIVCB+NSR; 14 LAD+LAnFB+NSR+TInv; 14 LAD+LAnFB+PAC; 14 LBBB+SB
14 LQT+SB+TAb; 14 PAC+STach+TAb; 14 PAC+TInv; 13 AF+IRBBB+LAD+LAnFB; 13 IAVB+LAD+TAb; 13 IAVB+SA
13 LAD+LAnFB+TAb; 13 LAD+LBBB+SB; 13 NSIVCB+TAb; 13 RAD; 12 AFL+LQT; 12 CRBBB+IAVB+NSR
12 IAVB+PAC; 12 IAVB+SB+TAb; 12 IRBBB+NSR+PAC; 12 LQRSV+LQT; 12 PVC+SB; 12 SB+TAb+TInv
11 AF+QAb+TAb; 11 Brady+IAVB; 11 Brady+PVC; 11 CRBBB+IAVB+SB; 11 IAVB+LAD+LAnFB; 11 IAVB+LQT+TAb
11 LAD+LAnFB+LPR+NSR; 11 LAD+LAnFB+LQT; 11 LQT+QAb+TAb+TInv; 11 LQT+STach+TAb; 11 NSIVCB+SA
10 CRBBB+IAVB+LAD; 10 CRBBB+NSR+QAb; 10 CRBBB+SA; 10 IAVB+LAD+STach; 10 IAVB+TInv
10 IRBBB+LAD+LAnFB+STach; 10 LAD+LQT+TAb; 10 LAD+NSIVCB; 10 LQT+PAC+TAb; 10 LQT+PVC+TAb
10 NSR+STach+TAb; 10 PAC+TAb+TInv; 10 QAb; 9 AF+IRBBB+TAb; 9 AF+NSIVCB+TAb; 9 AF+QAb
9 IAVB+LAD+NSR+TAb; 9 IAVB+TAb+TInv; 9 IRBBB+LAD+LAnFB; 9 LAD+LAnFB+LQT+NSR; 9 LAD+PVC
9 LAD+SA+TAb; 9 NSIVCB+NSR+RAD; 9 QAb+SA+TAb; 8 Brady+PAC; 8 CRBBB+IAVB+NSR+RAD
8 CRBBB+LAD+LAnFB; 8 CRBBB+LAD+SB; 8 IAVB+IRBBB+LAD+LAnFB+NSR; 8 IAVB+LAD+LAnFB+STach
8 IAVB+LAD+SA; 8 IRBBB+LQT+TAb; 8 IRBBB+NSR+TInv; 8 LAD+LAnFB+NSR+PAC+TAb; 8 LAD+LAnFB+PAC+STach
8 LAD+NSIVCB+NSR+TAb; 8 LAD+NSIVCB+STach; 8 LPR+NSR+QAb+TAb; 8 LQRSV+NSIVCB+NSR; 8 LQT+NSR+TAb
8 NSR+PAC+QAb; 8 QAb+STach; 8 QAb+STach+TAb+TInv; 8 RAD+SA
"""
KEPT_FRACTION = 0.9509
TAIL_DEFICIT = {
    "IAVB": 1.023,
    "AF": 0.456,
    "AFL": 0.223,
    "Brady": 0.077,
    "CRBBB": 0.694,
    "IRBBB": 0.691,
    "LAnFB": 0.588,
    "LAD": 1.746,
    "LBBB": 0.294,
    "LQRSV": 0.440,
    "NSIVCB": 0.681,
    "PR": 0.029,
    "PAC": 0.962,
    "PVC": 0.503,
    "LPR": 0.238,
    "LQT": 0.864,
    "QAb": 0.914,
    "RAD": 0.389,
    "SA": 0.532,
    "SB": 0.882,
    "NSR": 1.089,
    "STach": 0.681,
    "TAb": 1.597,
    "TInv": 1.062,
}
DEMOGRAPHICS = {
    "IAVB": (68.7, 14.1, 0.651),
    "AF": (71.2, 12.2, 0.573),
    "AFL": (67.1, 12.5, 0.610),
    "Brady": (64.2, 13.2, 0.639),
    "CRBBB": (65.1, 16.2, 0.665),
    "IRBBB": (59.3, 17.5, 0.634),
    "LAnFB": (68.5, 12.8, 0.615),
    "LAD": (66.1, 13.4, 0.599),
    "LBBB": (69.6, 12.1, 0.523),
    "LQRSV": (64.2, 13.5, 0.381),
    "NSIVCB": (64.7, 13.9, 0.660),
    "PR": (67.7, 13.3, 0.569),
    "PAC": (68.7, 14.6, 0.533),
    "PVC": (67.7, 13.0, 0.608),
    "LPR": (72.2, 12.8, 0.549),
    "LQT": (60.1, 14.4, 0.524),
    "QAb": (65.2, 14.0, 0.535),
    "RAD": (54.1, 19.9, 0.611),
    "SA": (51.6, 21.4, 0.473),
    "SB": (61.0, 15.6, 0.609),
    "NSR": (57.1, 17.2, 0.503),
    "STach": (59.4, 17.2, 0.499),
    "TAb": (64.4, 14.7, 0.488),
    "TInv": (64.7, 14.7, 0.499),
}
MISSING_AGE = 0.0046
AGE_RANGE = (1.0, 100.0)

# (weight, sampling rate Hz, (shortest s, longest s), mains Hz): a record's source.
SOURCES: tuple[tuple[float, int, tuple[float, float], int], ...] = (
    (0.74, 500, (10.0, 10.0), 50),   # PTB-XL / Georgia: 10 s
    (0.16, 500, (6.0, 60.0), 50),    # CPSC / CPSC-Extra: 6-60 s, mostly short
    (0.06, 300, (10.0, 10.0), 60),   # the hidden US source
    (0.03, 1000, (30.0, 120.0), 50), # PTB
    (0.01, 257, (120.0, 300.0), 50), # INCART-like: the few much longer records
)
